"""A small stand-in for gevent inside a WebAssembly user.

Each simulated user already runs on its own in the host, so ``gevent.sleep`` is plain
``time.sleep`` (which parks only this user). Greenlets and pools need threads of execution
a WebAssembly instance does not have: they fail with a message saying so.
"""

import time as _time


def sleep(seconds=0):
    """Pause this user for ``seconds``."""
    _time.sleep(seconds)


def _unsupported(*_args, **_kwargs):
    raise RuntimeError(
        "gevent greenlets are not available in a WebAssembly user: each user runs one task at "
        "a time; make the calls one after another, or spread the work over more users"
    )


spawn = spawn_later = joinall = wait = _unsupported


class Greenlet:
    """Not available; constructing one raises."""

    def __init__(self, *args, **kwargs):
        _unsupported()


class GreenletExit(BaseException):
    """Kept for imports."""
