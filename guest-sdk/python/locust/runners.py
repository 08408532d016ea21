"""``locust.runners``: the runner states and classes, as Locust 2.x names them.

The host runs the test, so these classes exist for the checks locustfiles make
(``isinstance(environment.runner, WorkerRunner)``) and for the state names; a runner object
with live figures is not available inside a user yet (``environment.runner`` is ``None``).
"""

STATE_INIT = "ready"
STATE_SPAWNING = "spawning"
STATE_RUNNING = "running"
STATE_CLEANUP = "cleanup"
STATE_STOPPING = "stopping"
STATE_STOPPED = "stopped"
STATE_MISSING = "missing"


class Runner:
    """The base of every runner."""


class LocalRunner(Runner):
    """A test in one process."""


class DistributedRunner(Runner):
    """A runner of a distributed test."""


class MasterRunner(DistributedRunner):
    """The master of a distributed test."""


class WorkerRunner(DistributedRunner):
    """A worker of a distributed test."""


__all__ = [
    "STATE_INIT",
    "STATE_SPAWNING",
    "STATE_RUNNING",
    "STATE_CLEANUP",
    "STATE_STOPPING",
    "STATE_STOPPED",
    "STATE_MISSING",
    "Runner",
    "LocalRunner",
    "DistributedRunner",
    "MasterRunner",
    "WorkerRunner",
]
