"""``LoadTestShape``: a locustfile's own load over time, as in Locust 2.x.

The host polls ``tick()`` about once a second (on the master, in a distributed run) and
applies the result when it changes: ``(users, spawn_rate)``, ``(users, spawn_rate,
[UserClass, ...])`` to run only those classes, or ``None`` to end the test. ``--users``,
``--spawn-rate`` and ``--run-time`` do not apply while a shape decides.
"""

import time


class _ShapeMeta(type):
    """Each class is concrete unless it says ``abstract = True`` itself, as in Locust."""

    def __new__(mcs, name, bases, namespace):
        namespace["abstract"] = namespace.get("abstract", False)
        return super().__new__(mcs, name, bases, namespace)


class LoadTestShape(metaclass=_ShapeMeta):
    """Base class for custom load shapes."""

    #: The runner (``environment.runner``), set before the first ``tick``.
    runner = None
    abstract = True
    #: Locust reads ``--users``/``--spawn-rate``/``--run-time`` for shapes that set this;
    #: here a shape always decides alone.
    use_common_options = False

    def __init__(self):
        self.start_time = time.perf_counter()

    def reset_time(self):
        """Start the run time again from 0."""
        self.start_time = time.perf_counter()

    def get_run_time(self):
        """Seconds since the test started (or ``reset_time`` was last called)."""
        return time.perf_counter() - self.start_time

    def get_current_user_count(self):
        """Users running now."""
        return self.runner.user_count

    def tick(self):
        """``(users, spawn_rate)``, ``(users, spawn_rate, user_classes)`` or ``None`` to stop."""
        raise NotImplementedError(f"{type(self).__name__} must define tick()")


__all__ = ["LoadTestShape"]
