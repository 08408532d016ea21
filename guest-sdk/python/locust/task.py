"""Tasks, tags and task sets, as in Locust's ``locust.user.task``.

Classes collect their tasks when they are defined, exactly as Locust's metaclasses do: the
inherited tasks first, then the ``tasks`` attribute (a list, or a ``{task: weight}`` dict),
then the ``@task`` methods, each repeated by its weight. The host then picks among them.
"""

from .exception import InterruptTaskSet


def task(weight=1):
    """Mark a method (or a nested ``TaskSet`` class) as a task, with an optional weight.

    Works as ``@task`` and as ``@task(3)``.
    """

    def mark(func):
        func.locust_task_weight = weight
        return func

    if callable(weight):
        func, weight = weight, 1
        return mark(func)
    return mark


def tag(*tags):
    """Tag a task or a task set, for ``--tags`` and ``--exclude-tags``."""
    for name in tags:
        if not isinstance(name, str):
            raise ValueError("@tag takes strings, e.g. @tag('checkout')")

    def mark(item):
        item.locust_tag_set = set(getattr(item, "locust_tag_set", ())) | set(tags)
        return item

    if len(tags) == 0 or callable(tags[0]):
        raise ValueError("@tag needs at least one tag name, e.g. @tag('checkout')")
    return mark


def _declared_tasks(bases, namespace, name):
    """Locust's ``get_tasks_from_base_classes``: the repeated task list of a new class."""
    tasks = []
    for base in bases:
        tasks.extend(getattr(base, "tasks", None) or ())
    declared = namespace.get("tasks")
    if declared is not None:
        items = declared.items() if isinstance(declared, dict) else declared
        for item in items:
            if isinstance(item, tuple):
                item, count = item
                tasks.extend([item] * count)
            else:
                tasks.append(item)
    for value in namespace.values():
        weight = getattr(value, "locust_task_weight", None)
        if weight is not None and value is not declared:
            tasks.extend([value] * weight)
    return tasks


def _sequential_tasks(bases, namespace, name):
    """Locust's ``SequentialTaskSetMeta``: tasks in declaration order, ``tasks`` where it is."""
    tasks = []
    for base in bases:
        tasks.extend(getattr(base, "tasks", None) or ())
    for key, value in namespace.items():
        if key == "tasks":
            if not isinstance(value, list):
                raise ValueError(
                    f"{name}: on a SequentialTaskSet the tasks attribute can only be a list"
                )
            tasks.extend(value)
        weight = getattr(value, "locust_task_weight", None)
        if weight is not None:
            tasks.extend([value] * weight)
    return tasks


class TaskSet:
    """A group of tasks a user runs until one of them calls ``self.interrupt()``."""

    tasks = []
    wait_time = None
    _sequential = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        collect = _sequential_tasks if cls._sequential else _declared_tasks
        cls.tasks = collect(cls.__bases__, dict(cls.__dict__), cls.__name__)

    def __init__(self, parent):
        from .user import User

        self.parent = parent
        self.user = parent if isinstance(parent, User) else parent.user
        if _inherited_wait(type(self)) is None:
            # A set without a wait_time of its own uses its user's.
            self.wait_time = self.user.wait_time

    @property
    def client(self):
        """The user's HTTP client."""
        return self.user.client

    @property
    def environment(self):
        """The run's environment (options, host, events)."""
        return self.user.environment

    @property
    def locust(self):
        """Old name of ``user``."""
        return self.user

    def on_start(self):
        """Called when the user enters this task set."""

    def on_stop(self):
        """Called when the user leaves this task set (interrupted, or stopping)."""

    def interrupt(self, reschedule=True):
        """Leave this task set. With ``reschedule`` the parent picks its next task at once;
        without it, the parent waits first."""
        raise InterruptTaskSet(reschedule)

    def wait(self):
        """Sleep for this task set's wait time, as after a task."""
        import time

        time.sleep(self.wait_time())


def _inherited_wait(cls):
    for klass in cls.__mro__:
        if klass in (TaskSet, SequentialTaskSet):
            return None
        value = klass.__dict__.get("wait_time")
        if value is not None:
            return value
    return None


class SequentialTaskSet(TaskSet):
    """A task set whose tasks run in the order they are declared, round and round."""

    _sequential = True


class DefaultTaskSet(TaskSet):
    """Kept for imports; a user's own tasks are driven by the host directly."""
