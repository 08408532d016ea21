"""User classes, as in Locust's ``locust.user.users``."""

from .task import TaskSet, _declared_tasks
from .wait_time import constant


class User:
    """A simulated user: subclass it, give it tasks, a ``wait_time`` and optionally a
    ``host`` and a ``weight``. Each simulated user is an instance of a concrete subclass,
    in a WebAssembly instance of its own."""

    host = None
    weight = 1
    tasks = []
    wait_time = constant(0)
    abstract = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # As Locust's metaclass: `abstract` is not inherited.
        if "abstract" not in cls.__dict__:
            cls.abstract = False
        cls.tasks = _declared_tasks(cls.__bases__, dict(cls.__dict__), cls.__name__)

    def __init__(self, environment):
        self.environment = environment

    def on_start(self):
        """Called when the user starts, before its first task."""

    def on_stop(self):
        """Called when the user stops."""


class HttpUser(User):
    """A user with ``self.client``, an HTTP session kept by the host (cookies, keep-alive
    connections) whose requests are timed and recorded in the statistics."""

    abstract = True

    def __init__(self, environment):
        super().__init__(environment)
        from .clients import HttpSession

        self.client = HttpSession(base_url=environment.host)


class FastHttpUser(HttpUser):
    """Same as ``HttpUser``: every request is made by the host's fast HTTP client anyway."""

    abstract = True


__all__ = ["User", "HttpUser", "FastHttpUser", "TaskSet"]
