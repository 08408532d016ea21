"""``locust.user.task``: tasks, tags and task sets (defined in ``locust.task``)."""

from ..task import DefaultTaskSet, SequentialTaskSet, TaskSet, tag, task

__all__ = ["DefaultTaskSet", "SequentialTaskSet", "TaskSet", "tag", "task"]
