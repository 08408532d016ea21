"""Event hooks (``locust.events``), as in Locust.

Listeners of ``init``, ``test_start``, ``test_stop``, ``request_success``, ``request_failure``,
``request``, ``report_to_master``, ``worker_report`` and ``quitting`` run in the component's
hooks instance, which the host drives once per process; the host decides from the listeners
present at load which hooks to call.
"""


class DeprecatedEventHook:
    """Placeholder for events Locust had that this platform does not fire."""


class EventHook:
    """A list of listeners, fired with keyword arguments."""

    def __init__(self, name="event"):
        self._name = name
        self._handlers = []

    def add_listener(self, handler):
        """Register ``handler``; returns it, so the method works as a decorator."""
        self._handlers.append(handler)
        return handler

    def remove_listener(self, handler):
        """Unregister ``handler``."""
        self._handlers.remove(handler)

    def fire(self, *, reverse=False, **kwargs):
        """Call every listener with ``kwargs``."""
        handlers = reversed(self._handlers) if reverse else self._handlers
        for handler in list(handlers):
            handler(**kwargs)

    def __bool__(self):
        return bool(self._handlers)

    def __repr__(self):
        return f"<EventHook {self._name} ({len(self._handlers)} listeners)>"


class _RequestEvent(EventHook):
    """``request_success``/``request_failure``/``request``: a custom client's ``fire`` records
    the request in the host's statistics; the host calls the listeners afterwards, once."""

    def __init__(self, name, record):
        super().__init__(name)
        self._record = record

    def fire(self, *, reverse=False, **kwargs):
        self._record(self._name, kwargs)


def _record_request(kind, fields):
    # Imported late: the bindings exist only inside the component.
    from . import _runtime

    _runtime.record_request(kind, fields)


class Events:
    """The events of one locustfile (``locust.events`` and ``environment.events``)."""

    def __init__(self):
        self.init = EventHook("init")
        self.init_command_line_parser = EventHook("init_command_line_parser")
        self.test_start = EventHook("test_start")
        self.test_stop = EventHook("test_stop")
        self.quitting = EventHook("quitting")
        self.report_to_master = EventHook("report_to_master")
        self.worker_report = EventHook("worker_report")
        self.request_success = _RequestEvent("request_success", _record_request)
        self.request_failure = _RequestEvent("request_failure", _record_request)
        self.request = _RequestEvent("request", _record_request)
        self.user_error = EventHook("user_error")
        self.spawning_complete = EventHook("spawning_complete")
        self.hatch_complete = self.spawning_complete
        self.reset_stats = EventHook("reset_stats")
