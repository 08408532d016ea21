"""``locust.user.sequential_taskset``: ``SequentialTaskSet`` (defined in ``locust.task``)."""

from ..task import SequentialTaskSet

__all__ = ["SequentialTaskSet"]
