"""``locust.runners``: the runner states and classes, as Locust 2.x names them, and the runner
a locustfile sees as ``environment.runner``.

The host runs the test; ``environment.runner`` is a view of it: its state, its users, the
statistics so far (``runner.stats.total.fail_ratio``), and ``quit()``/``stop()``. It is a
``LocalRunner``, ``MasterRunner`` or ``WorkerRunner`` as the process is, so that the checks
locustfiles make (``isinstance(environment.runner, WorkerRunner)``) hold.
"""

STATE_INIT = "ready"
STATE_SPAWNING = "spawning"
STATE_RUNNING = "running"
STATE_CLEANUP = "cleanup"
STATE_STOPPING = "stopping"
STATE_STOPPED = "stopped"
STATE_MISSING = "missing"


def _host_runner():
    from wit_world.imports import runner

    return runner


class StatsEntry:
    """One row of the statistics (a name and method, or ``Aggregated``), read from the host
    each time an attribute is asked for."""

    def __init__(self, name=None, method=None):
        self.name = "Aggregated" if name is None and method is None else name
        self.method = method
        self._name = name
        self._method = method

    def _totals(self):
        return _host_runner().totals(self._name, self._method)

    def _field(self, field, empty=0):
        totals = self._totals()
        return empty if totals is None else getattr(totals, field)

    @property
    def num_requests(self):
        return self._field("requests")

    @property
    def num_failures(self):
        return self._field("failures")

    @property
    def fail_ratio(self):
        totals = self._totals()
        if totals is None or totals.requests == 0:
            return 0.0
        return totals.failures / totals.requests

    @property
    def avg_response_time(self):
        return self._field("avg_response_time", 0.0)

    @property
    def min_response_time(self):
        return self._field("min_response_time", None)

    @property
    def max_response_time(self):
        return self._field("max_response_time", 0.0)

    @property
    def median_response_time(self):
        return self.get_response_time_percentile(0.5)

    @property
    def avg_content_length(self):
        return self._field("avg_content_length", 0.0)

    @property
    def total_content_length(self):
        return self._field("total_content_length")

    @property
    def current_rps(self):
        return self._field("current_rps", 0.0)

    @property
    def current_fail_per_sec(self):
        return self._field("current_fail_per_sec", 0.0)

    @property
    def total_rps(self):
        return self._field("total_rps", 0.0)

    @property
    def total_fail_per_sec(self):
        totals = self._totals()
        if totals is None or totals.requests == 0 or totals.total_rps == 0:
            return 0.0
        return totals.total_rps * totals.failures / totals.requests

    @property
    def start_time(self):
        return self._field("start_time", 0.0)

    @property
    def last_request_timestamp(self):
        return self._field("last_request_timestamp", None)

    def get_response_time_percentile(self, percent):
        """The response time (ms) below which ``percent`` (0 to 1) of the requests completed."""
        return _host_runner().percentile(self._name, self._method, float(percent))

    def __repr__(self):
        return f"<StatsEntry {self.method or ''} {self.name}>".replace("  ", " ")


class RequestStats:
    """``runner.stats``: the rows of the statistics."""

    @property
    def total(self):
        return StatsEntry()

    def get(self, name, method):
        """The row of ``name`` requested with ``method``."""
        return StatsEntry(name, method)

    @property
    def num_requests(self):
        return self.total.num_requests

    @property
    def num_failures(self):
        return self.total.num_failures


_STATES = {
    "READY": STATE_INIT,
    "SPAWNING": STATE_SPAWNING,
    "RUNNING": STATE_RUNNING,
    "STOPPING": STATE_STOPPING,
    "STOPPED": STATE_STOPPED,
}


class Runner:
    """The base of every runner: what the host's runner shows."""

    def __init__(self, environment=None):
        self.environment = environment
        self.stats = RequestStats()

    @property
    def state(self):
        return _STATES.get(_host_runner().state().name, STATE_INIT)

    @property
    def user_count(self):
        return _host_runner().user_count()

    @property
    def user_classes_count(self):
        return dict(_host_runner().user_classes_count())

    @property
    def worker_index(self):
        return _host_runner().worker_index()

    def quit(self):
        """Stop the test and end Locust (in the web UI too), as Locust's ``runner.quit()``."""
        _host_runner().quit()

    def stop(self):
        """Stop the test (users stop, ``test_stop`` runs); a headless run then ends."""
        _host_runner().stop()

    def start(self, user_count, spawn_rate, wait=False, user_classes=None):
        raise NotImplementedError(
            "runner.start() from a locustfile is not supported: start tests from the command line "
            "or the web UI, or give the locustfile a LoadTestShape"
        )

    def register_message(self, msg_type, listener, concurrent=False):
        raise NotImplementedError(
            "runner.register_message (custom master/worker messages) is not supported yet: "
            "share data with the test_start hook instead"
        )

    def send_message(self, msg_type, data=None, client_id=None):
        raise NotImplementedError(
            "runner.send_message (custom master/worker messages) is not supported yet: "
            "share data with the test_start hook instead"
        )

    def __repr__(self):
        return f"<{type(self).__name__} state={self.state} users={self.user_count}>"


class LocalRunner(Runner):
    """A test in one process."""


class DistributedRunner(Runner):
    """A runner of a distributed test."""


class MasterRunner(DistributedRunner):
    """The master of a distributed test."""

    @property
    def worker_count(self):
        raise NotImplementedError("runner.worker_count is not available to a locustfile yet")


class WorkerRunner(DistributedRunner):
    """A worker of a distributed test."""


def for_process(environment):
    """The runner of this process, of the class its role gives."""
    role = _host_runner().role().name
    cls = {"MASTER": MasterRunner, "WORKER": WorkerRunner}.get(role, LocalRunner)
    return cls(environment)


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
