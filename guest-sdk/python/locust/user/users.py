"""User classes, as in Locust's ``locust.user.users``."""

import contextlib as _contextlib
import re as _re
import time as _time
import traceback as _traceback

from ..task import TaskSet, _declared_tasks
from ..wait_time import constant


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
        from ..clients import HttpSession

        self.client = HttpSession(base_url=environment.host)


class FastHttpUser(HttpUser):
    """Same as ``HttpUser`` (every request is made by the host's fast HTTP client anyway),
    plus Locust 2.x's ``rest`` and ``rest_`` helpers for JSON APIs."""

    abstract = True
    _callstack = _re.compile(r'  File "(/.[^"]*)", line (\d*),(.*)')

    @_contextlib.contextmanager
    def rest(self, method, url, headers=None, **kwargs):
        """A ``catch_response`` request for a JSON API, as in Locust 2.x: JSON ``Content-Type``
        and ``Accept`` by default, the parsed body as ``resp.js`` (a body that is not JSON
        fails the request), and an ``assert`` or any other exception inside the ``with`` block
        marks the request failed instead of ending the task."""
        headers = dict(headers or {})
        if not ("Content-Type" in headers or "content-type" in headers):
            headers["Content-Type"] = "application/json"
        if not ("Accept" in headers or "accept" in headers):
            headers["Accept"] = "application/json"
        with self.client.request(method, url, catch_response=True, headers=headers, **kwargs) as resp:
            resp.js = None
            if resp.status_code == 0:
                resp.failure(str(resp.error))
            elif resp.text:
                try:
                    resp.js = resp.json()
                except ValueError as error:
                    resp.failure(
                        f"Could not parse response as JSON. {resp.text[:250]}, response code "
                        f"{resp.status_code}, error {error}"
                    )
            try:
                yield resp
            except AssertionError as error:
                if error.args:
                    message = str(error.args[0])
                    if message.endswith(","):
                        short = resp.text[:200] if resp.text else resp.text
                        resp.failure(f"{message[:-1]}, response was {short}")
                    else:
                        resp.failure(message)
                else:
                    resp.failure("Assertion failed")
            except Exception as error:  # noqa: BLE001 - Locust's rest() turns any into a failure
                lines = []
                for line in _traceback.format_exc().split("\n"):
                    found = self._callstack.match(line)
                    if found:
                        lines.append(found.group(1) + ":" + found.group(2) + found.group(3))
                short = resp.text[:200] if resp.text else resp.text
                resp.failure(
                    f"{error.__class__.__name__}: {error} at {', '.join(lines)}. Response was {short}"
                )

    @_contextlib.contextmanager
    def rest_(self, method, url, name=None, **kwargs):
        """``rest`` with a ``_=<milliseconds>`` cache-breaking parameter appended to the URL,
        grouped under one name."""
        separator = "&" if "?" in url else "?"
        if name is None:
            name = url + separator + "_=..."
        stamped = f"{url}{separator}_={int(_time.time() * 1000)}"
        with self.rest(method, stamped, name=name, **kwargs) as resp:
            yield resp


__all__ = ["User", "HttpUser", "FastHttpUser", "TaskSet"]
