"""Wait policies (``between``, ``constant``, ``constant_pacing``), as in Locust.

Each returns a callable that also carries the policy, so the host waits by itself (without
calling into the guest) when a class uses one of them. Any other ``wait_time`` method is
called by the host after each task.
"""

import random as _random
import time as _time


class _WaitTime:
    __slots__ = ("kind", "low", "high", "_last")

    def __init__(self, kind, low, high=None):
        if kind == "between":
            if not low <= high:
                raise ValueError(f"between({low}, {high}): the minimum is larger than the maximum")
        self.kind = kind
        self.low = float(low)
        self.high = float(high if high is not None else low)
        self._last = None

    def __call__(self, *_owner):
        # Locust's wait functions take the user or task set; called directly they still work.
        if self.kind == "between":
            return self.low + _random.random() * (self.high - self.low)
        if self.kind == "constant":
            return self.low
        now = _time.monotonic()
        last, self._last = self._last, now
        if last is None:
            return self.low
        return max(0.0, self.low - (now - last))

    def __repr__(self):
        if self.kind == "between":
            return f"between({self.low}, {self.high})"
        return f"{self.kind}({self.low})"


def between(min_wait, max_wait):
    """Wait a random number of seconds between ``min_wait`` and ``max_wait`` after each task."""
    return _WaitTime("between", min_wait, max_wait)


def constant(wait_time):
    """Wait the same number of seconds after each task."""
    return _WaitTime("constant", wait_time)


def constant_pacing(wait_time):
    """Wait so that one task starts every ``wait_time`` seconds, whatever the task took."""
    return _WaitTime("constant-pacing", wait_time)


def constant_throughput(task_runs_per_second):
    """Wait so that the task runs ``task_runs_per_second`` times a second (the inverse of
    ``constant_pacing``)."""
    return _WaitTime("constant-pacing", 1.0 / task_runs_per_second)
