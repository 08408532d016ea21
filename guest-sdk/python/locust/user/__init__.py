"""Users, tasks and waits under Locust 2.x's module paths (``locust.user``,
``locust.user.task``, ``locust.user.wait_time``, ``locust.user.users``, ...)."""

from ..task import SequentialTaskSet, TaskSet, tag, task
from ..wait_time import between, constant, constant_pacing, constant_throughput
from .markov_taskset import MarkovTaskSet, transition, transitions
from .users import FastHttpUser, HttpUser, User

__all__ = [
    "User",
    "HttpUser",
    "FastHttpUser",
    "TaskSet",
    "SequentialTaskSet",
    "MarkovTaskSet",
    "tag",
    "task",
    "transition",
    "transitions",
    "between",
    "constant",
    "constant_pacing",
    "constant_throughput",
]
