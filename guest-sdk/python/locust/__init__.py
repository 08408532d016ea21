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

from . import clients, env, exception, log, runners  # noqa: E402,F401
from .debug import run_single_user  # noqa: E402
from .shape import LoadTestShape  # noqa: E402
from .task import SequentialTaskSet, TaskSet, tag, task  # noqa: E402
from .user import FastHttpUser, HttpUser, User  # noqa: E402
from .user.markov_taskset import MarkovTaskSet, transition, transitions  # noqa: E402
from .wait_time import between, constant, constant_pacing, constant_throughput  # noqa: E402

__version__ = "0.3.0"

__all__ = [
    "SequentialTaskSet",
    "MarkovTaskSet",
    "TaskSet",
    "transition",
    "transitions",
    "LoadTestShape",
    "run_single_user",
    "tag",
    "task",
    "HttpUser",
    "FastHttpUser",
    "User",
    "between",
    "constant",
    "constant_pacing",
    "constant_throughput",
    "events",
    "exception",
]
