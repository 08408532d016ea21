"""Locust's API for users that run as WebAssembly components on the ``locust`` host.

A locustfile written for Locust imports from here unchanged::

    from locust import HttpUser, task, between

    class QuickstartUser(HttpUser):
        wait_time = between(1, 2)

        @task
        def index(self):
            self.client.get("/")
"""

from .event import Events

events = Events()

from . import clients, env, exception  # noqa: E402,F401
from .task import SequentialTaskSet, TaskSet, tag, task  # noqa: E402
from .user import FastHttpUser, HttpUser, User  # noqa: E402
from .wait_time import between, constant, constant_pacing  # noqa: E402

__version__ = "0.3.0"

__all__ = [
    "SequentialTaskSet",
    "TaskSet",
    "tag",
    "task",
    "HttpUser",
    "FastHttpUser",
    "User",
    "between",
    "constant",
    "constant_pacing",
    "events",
    "exception",
]
