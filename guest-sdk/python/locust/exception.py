"""Exceptions a locustfile raises or catches, as in Locust's ``locust.exception``."""


class LocustError(Exception):
    """Base class of the SDK's own errors."""


class ResponseError(Exception):
    """A response is not what the task expected; inside ``catch_response`` it is a failure."""


class CatchResponseError(Exception):
    """Raised inside a ``catch_response`` block to mark the request as failed."""


class InterruptTaskSet(Exception):
    """Leave the current task set (what ``TaskSet.interrupt()`` raises)."""

    def __init__(self, reschedule=True):
        super().__init__(reschedule)
        self.reschedule = reschedule


class StopUser(Exception):
    """Stop this simulated user for good; its ``on_stop`` still runs."""


class RescheduleTask(Exception):
    """End the current task; the user waits and then picks the next one."""


class RescheduleTaskImmediately(Exception):
    """End the current task; the next one is picked (this SDK waits as after any task)."""


class MissingWaitTimeError(LocustError):
    """Kept for imports; this SDK defaults to ``constant(0)`` like later Locust versions."""


class RPCError(Exception):
    """Kept for imports: distributed runs are the host's business."""


class StopLocust(StopUser):
    """Old name of ``StopUser``."""
