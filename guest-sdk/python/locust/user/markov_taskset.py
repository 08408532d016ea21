"""``MarkovTaskSet``, as in Locust 2.x: a task set whose next task is drawn from the current
task's transitions (``@transition``, ``@transitions``), starting from the first one declared.

The host sees one task per set, ``markov_step``: each run performs the current task and moves
the chain on, so waits, interrupts and statistics work as for any task.
"""

import logging as _logging
import random as _random

from ..exception import LocustError
from ..task import TaskSet


class NoMarkovTasksError(LocustError):
    """A MarkovTaskSet without any ``@transition``/``@transitions`` task."""


class InvalidTransitionError(LocustError):
    """A transition to a name the class does not have."""


class NonMarkovTaskTransitionError(LocustError):
    """A transition to a method that has no transitions of its own."""


class MarkovTaskTagError(LocustError):
    """``@tag`` on a Markov task (tags could break the chain)."""


def _is_markov(value):
    return callable(value) and hasattr(value, "transitions")


def transition(func_name, weight=1):
    """Add one transition from the decorated task to ``func_name``, with a weight."""

    def decorate(func):
        if not hasattr(func, "transitions"):
            func.transitions = {}
        func.transitions[func_name] = weight
        return func

    return decorate


def transitions(weights):
    """Add several transitions: a ``{name: weight}`` dict, or a list of names (weight 1) and
    ``(name, weight)`` tuples."""

    def decorate(func):
        if not hasattr(func, "transitions"):
            func.transitions = {}
        if isinstance(weights, dict):
            func.transitions.update(weights)
        else:
            for item in weights:
                name, weight = item if isinstance(item, tuple) else (item, 1)
                func.transitions[name] = weight
        return func

    return decorate


def _validate(tasks, namespace, name):
    if not tasks:
        raise NoMarkovTasksError(
            f"No Markov tasks defined in class {name}. Use the @transition(s) decorators to define some."
        )
    for task in tasks:
        if task.__name__ == "run":
            raise LocustError(
                "TaskSet.run() is a method used internally by Locust, and you must not override it "
                "or annotate it with transitions"
            )
        if task.__name__ in ("on_start", "on_stop"):
            _logging.warning(
                "You have tagged your on_stop/start function with @transition. This will make the "
                "method get called both as a step AND on stop/start."
            )
        if hasattr(task, "locust_tag_set"):
            raise MarkovTaskTagError(
                "Tags are unsupported for MarkovTaskSet since they can make the markov chain "
                f"invalid. Tags detected on {name}.{task.__name__}: {task.locust_tag_set}"
            )
        for target in task.transitions:
            found = namespace.get(target)
            if found is None:
                raise InvalidTransitionError(
                    f"Transition to {target} from {task.__name__} is invalid since no such "
                    f"element exists on class {name}"
                )
            if not _is_markov(found):
                raise NonMarkovTaskTransitionError(
                    f"{name}.{target} cannot be used as a target for a transition since it does "
                    f"not define any transitions of its own. Used as a transition from {task.__name__}."
                )
    reached = set()
    pending = [tasks[0].__name__]
    while pending:
        current = pending.pop()
        if current in reached:
            continue
        reached.add(current)
        weights = namespace[current].transitions
        pending.extend(target for target, weight in weights.items() if weight > 0)
    unreachable = {task.__name__ for task in tasks} - reached
    if unreachable:
        _logging.warning(f"The following markov tasks are unreachable in class {name}: {unreachable}")


def markov_step(taskset):
    """Run the chain's current task, after drawing the next one from its transitions."""
    taskset.get_next_task()()


class MarkovTaskSet(TaskSet):
    """A probabilistic sequence of tasks: a Markov chain over the methods decorated with
    ``@transition``/``@transitions``, starting at the first one."""

    abstract = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "abstract" not in cls.__dict__:
            cls.abstract = False
        if cls.abstract:
            return
        namespace = dict(cls.__dict__)
        tasks = [value for value in namespace.values() if _is_markov(value)]
        _validate(tasks, namespace, cls.__name__)
        for task in tasks:
            if isinstance(task.transitions, dict):
                task.transitions = [
                    target for target, weight in task.transitions.items() for _ in range(weight)
                ]
        cls._markov_first = tasks[0].__name__
        cls.tasks = [markov_step]

    @property
    def current(self):
        """The task the chain runs next."""
        return getattr(self, self.__dict__.get("_markov_current") or self._markov_first)

    def get_next_task(self):
        """The task to run now; the chain moves on to one of its transitions."""
        current = self.current
        self._markov_current = _random.choice(current.transitions)
        return current


__all__ = [
    "MarkovTaskSet",
    "transition",
    "transitions",
    "NoMarkovTasksError",
    "InvalidTransitionError",
    "NonMarkovTaskTransitionError",
    "MarkovTaskTagError",
]
