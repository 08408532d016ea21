"""The glue between a locustfile and the host's ``locust:runtime`` contract.

At build time (componentize-py's pre-initialisation) ``load`` imports the locustfile, flattens
every concrete user class's task tree, records the declared options and listeners, and
freezes the heap, so the description is part of the snapshot every instance starts from. At
run time each instance holds one user; the host calls the exports below.

Nothing may escape an export: componentize-py would trap the instance and the traceback
would be lost. Every exception becomes a ``task-error`` (with its traceback), a log line, or
(for Locust's control-flow exceptions) an outcome.
"""

import gc
import importlib
import importlib.util
import json
import linecache
import logging
import os
import sys
import traceback

from componentize_py_types import Err
from wit_world.imports import context as _context
from wit_world.imports import events as _host_events
from wit_world.imports import log as _log
from wit_world.imports import test_plan as _test_plan
from wit_world.imports import types as _types
from wit_world.exports import load_shape as _load_shape

from . import events as _events
from . import runners as _runners
from .env import CommandLineParser, Environment, shown
from .event import EventHook
from .exception import (
    InterruptTaskSet,
    RescheduleTask,
    RescheduleTaskImmediately,
    StopUser,
)
from .shape import LoadTestShape
from .task import TaskSet, _inherited_wait
from .user import FastHttpUser, HttpUser, User
from .wait_time import _WaitTime

# Standard modules imported at build time, so a task may import them later: a module that
# was not imported while the component was built is not inside it.
PRELOADED = (
    "base64 binascii bisect calendar collections contextlib copy csv dataclasses datetime "
    "decimal difflib email.utils encodings.ascii encodings.idna encodings.latin_1 "
    "encodings.utf_8 enum fractions functools gzip hashlib heapq hmac html "
    "html.parser http http.client http.cookies io itertools json logging math numbers operator pathlib "
    "pprint queue random re secrets selectors shlex socket statistics string struct textwrap "
    "time timeit typing unicodedata urllib.parse uuid xml.etree.ElementTree xml.dom.minidom "
    "xmlrpc.client zlib"
).split()

# Around the traceback of a locustfile that fails to import, for the host to find.
ERROR_START = "--- locustfile error ---"
ERROR_END = "--- end of locustfile error ---"

_DONE = _types.TaskOutcome.DONE
_MAX_DEPTH = 32
_SDK_CLASSES = (User, HttpUser, FastHttpUser)

# Set at build time, shared by every instance.
_classes = []
_trees = []
_description = None
_options = {}
_unfired = []
# The locustfile's load shape class (the first, as Locust picks), if any.
_shape_class = None
# Its instance, made in the hooks instance when the first test starts.
_shape = None

# One simulated user per instance.
_user = None
_tree = []
_create_error = None
_project = ""
_stack = []
_environment = None


class _HostLogHandler(logging.Handler):
    """``logging`` records into the host's log (under ``locust.user``, with the class)."""

    _LEVELS = (
        (logging.ERROR, _log.Level.ERROR),
        (logging.WARNING, _log.Level.WARNING),
        (logging.INFO, _log.Level.INFO),
    )

    def emit(self, record):
        try:
            message = self.format(record)
            if record.name != "root":
                message = f"{record.name}: {message}"
            level = _log.Level.DEBUG
            for threshold, host_level in self._LEVELS:
                if record.levelno >= threshold:
                    level = host_level
                    break
            _log.write(level, message)
        except Exception:
            self.handleError(record)


def _find(module_name, file_name):
    """The spec of the locustfile: by module name, or (for a file name that is no Python
    identifier, such as ``x-forwarded-for.py``) by its path on ``sys.path``, as Locust loads it."""
    if file_name is None or file_name == f"{module_name}.py":
        return importlib.util.find_spec(module_name)
    for folder in sys.path:
        path = os.path.join(folder or ".", file_name)
        if os.path.isfile(path):
            return importlib.util.spec_from_file_location(module_name, path)
    raise ImportError(f"{file_name} is not in any folder of the locustfile's path")


def load(module_name, file_name=None):
    """Import the locustfile ``module_name`` (from ``file_name``) and describe it (run once, at
    build time)."""
    global _project
    for name in PRELOADED:
        importlib.import_module(name)
    sys.stdout.reconfigure(line_buffering=True)
    root = logging.getLogger()
    root.addHandler(_HostLogHandler())
    root.setLevel(logging.INFO)
    spec = _find(module_name, file_name)
    _project = os.path.dirname((spec and spec.origin) or "") + "/"
    try:
        if spec is None:
            raise ModuleNotFoundError(f"No module named {module_name!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        _describe(module, module_name)
    except BaseException as exception:
        # The host shows what is between the marks: the locustfile's own traceback.
        text = _error(exception).value.traceback
        sys.stderr.write(f"{ERROR_START}\n{text}{ERROR_END}\n")
        raise
    _keep_sources()
    gc.collect()
    gc.freeze()


def _describe(module, module_name):
    """Collect the user classes, options and listeners of the imported locustfile."""
    global _description
    parser = CommandLineParser()
    _events.init_command_line_parser.fire(parser=parser)
    _options.update(parser.options)
    seen = set()
    for value in list(vars(module).values()):
        if (
            isinstance(value, type)
            and issubclass(value, User)
            and value not in _SDK_CLASSES
            and not value.abstract
            and value not in seen
        ):
            seen.add(value)
            _classes.append(value)
    global _shape_class
    shapes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, LoadTestShape)
        and not value.__dict__.get("abstract", False)
    ]
    if shapes:
        _shape_class = shapes[0]
    if not _classes:
        raise RuntimeError(
            f"{module_name}.py defines no user class: subclass HttpUser (or User) and give it "
            "tasks with @task"
        )
    classes = []
    for cls in _classes:
        nodes, records = [], []
        _flatten(cls, cls.tasks, False, None, nodes, records, 0)
        _trees.append(nodes)
        classes.append(
            _types.UserClass(
                cls.__name__,
                _weight(cls),
                cls.host,
                _policy(cls.wait_time, cls.__name__),
                False,
                records,
            )
        )
    _description = _types.Description(classes, _hook_set(), _option_specs())
    for name in ("user_error", "spawning_complete", "reset_stats"):
        if getattr(_events, name):
            _unfired.append(name)


def _weight(cls):
    weight = cls.weight
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
        raise ValueError(f"{cls.__name__}.weight is {weight!r}; it must be a whole number >= 1")
    return weight


def _policy(wait, owner):
    if wait is None:
        return None
    if isinstance(wait, _WaitTime):
        if wait.kind == "between":
            return _types.WaitPolicy_Between(_types.WaitRange(wait.low, wait.high))
        if wait.kind == "constant":
            return _types.WaitPolicy_Constant(wait.low)
        return _types.WaitPolicy_ConstantPacing(wait.low)
    if callable(wait):
        return _types.WaitPolicy_Custom()
    raise TypeError(
        f"{owner}.wait_time is {wait!r}; use between(), constant(), constant_pacing() or a method"
    )


def _grouped(tasks, sequential):
    """Locust's repeated task list as (task, weight) pairs: counts for random choice, runs of
    repeats for sequential sets (where order matters)."""
    groups = []
    if sequential:
        for item in tasks:
            if groups and groups[-1][0] is item:
                groups[-1][1] += 1
            else:
                groups.append([item, 1])
    else:
        index = {}
        for item in tasks:
            at = index.get(id(item))
            if at is None:
                index[id(item)] = len(groups)
                groups.append([item, 1])
            else:
                groups[at][1] += 1
    return groups


def _flatten(owner, tasks, sequential, parent, nodes, records, depth):
    if depth > _MAX_DEPTH:
        raise RecursionError(
            f"task sets nest more than {_MAX_DEPTH} deep under {owner.__name__}: does a set "
            "contain itself?"
        )
    for item, weight in _grouped(tasks, sequential):
        index = len(nodes)
        is_set = isinstance(item, type) and issubclass(item, TaskSet)
        if is_set:
            kind = (
                _types.NodeKind.SEQUENTIAL_TASK_SET
                if item._sequential
                else _types.NodeKind.TASK_SET
            )
            wait = _policy(_inherited_wait(item), item.__name__)
        elif callable(item):
            kind, wait = _types.NodeKind.TASK, None
        else:
            raise TypeError(
                f"{owner.__name__}.tasks holds {item!r}, which is neither a function nor a TaskSet"
            )
        name = getattr(item, "__name__", None) or repr(item)
        tags = sorted(getattr(item, "locust_tag_set", ()))
        nodes.append((item, parent))
        records.append(_types.TaskNode(parent, kind, name, weight, tags, wait))
        if is_set:
            _flatten(item, item.tasks, item._sequential, index, nodes, records, depth + 1)


def _hook_set():
    flags = _types.HookSet(0)
    wanted = (
        (_events.init, _types.HookSet.INIT),
        (_events.test_start, _types.HookSet.TEST_START),
        (_events.test_stop, _types.HookSet.TEST_STOP),
        (_events.request_success, _types.HookSet.REQUEST),
        (_events.request_failure, _types.HookSet.REQUEST),
        (_events.request, _types.HookSet.REQUEST),
        (_events.report_to_master, _types.HookSet.REPORT_TO_MASTER),
        (_events.worker_report, _types.HookSet.WORKER_REPORT),
        (_events.quitting, _types.HookSet.QUITTING),
    )
    for hook, flag in wanted:
        if hook:
            flags |= flag
    return flags


def _option_specs():
    return [
        _types.OptionSpec(
            option.name, None if option.default is None else shown(option.default), option.help
        )
        for option in _options.values()
    ]


def _keep_sources():
    """Keep the source lines of the locustfile's own modules, so tracebacks show them (the
    files themselves are not inside the sandbox)."""
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None) or ""
        if not filename.endswith(".py") or "site-packages" in filename:
            continue
        if filename.startswith(os.path.dirname(__file__)) or "/lib/python3" in filename:
            continue
        try:
            linecache.getlines(filename)
        except Exception:
            continue
        entry = linecache.cache.get(filename)
        if entry is not None and len(entry) == 4:
            # No modification time: linecache never checks (or drops) the entry again.
            linecache.cache[filename] = (entry[0], None, entry[2], entry[3])


def _error(exception):
    """The ``task-error`` for an exception: its type and message, and the traceback from the
    locustfile's frames on (paths relative to the locustfile's folder)."""
    message = f"{type(exception).__name__}: {exception}".rstrip(": ")
    frames = exception.__traceback__
    while frames is not None and _is_machinery(frames.tb_frame):
        frames = frames.tb_next
    text = "".join(traceback.format_exception(type(exception), exception, frames))
    if _project:
        text = text.replace(_project, "")
    return Err(_types.TaskError(message, text))


def _is_machinery(frame):
    """Frames of the SDK's glue and of the import system, left out of tracebacks."""
    name = frame.f_globals.get("__name__", "")
    return name.startswith(("locust._", "importlib")) or frame.f_code.co_filename.startswith(
        "<frozen "
    )


def _outcome(call):
    try:
        call()
    except InterruptTaskSet as interrupt:
        if interrupt.reschedule:
            return _types.TaskOutcome.INTERRUPT
        return _types.TaskOutcome.INTERRUPT_NO_RESCHEDULE
    except StopUser:
        return _types.TaskOutcome.STOP_USER
    except (RescheduleTask, RescheduleTaskImmediately):
        return _DONE
    except BaseException as exception:
        raise _error(exception) from None
    return _DONE


def _quietly(call):
    """Run an on_stop: control-flow exceptions mean nothing there; errors are reported."""
    try:
        call()
    except (InterruptTaskSet, StopUser, RescheduleTask, RescheduleTaskImmediately):
        pass
    except BaseException as exception:
        raise _error(exception) from None


def _owner(parent):
    """The object a task or set at this parent index runs on: a set being run, or the user."""
    if parent is None:
        return _user
    for node, instance in reversed(_stack):
        if node == parent:
            return instance
    raise RuntimeError(f"task set {parent} is not being run")


def _env():
    global _environment
    if _environment is None:
        _environment = Environment(_events, _options, list(_classes))
        _environment.runner = _runners.for_process(_environment)
        _environment.stats = _environment.runner.stats
    return _environment


def _report_error(what):
    """Log the exception being handled, for exports that cannot return an error."""
    _log.write(_log.Level.ERROR, f"{what} failed:\n{traceback.format_exc().rstrip()}")


def record_request(kind, fields):
    """A custom client's ``events.request_success/failure/request.fire``: recorded by the host,
    which then calls the request listeners (once)."""
    exception = fields.get("exception")
    if kind == "request_success":
        exception = None
    elif kind == "request_failure" and exception is None:
        exception = "failed"
    response_time = fields.get("response_time") or 0
    _host_events.request(
        _types.RequestRecord(
            str(fields.get("request_type", "")),
            str(fields.get("name", "")),
            float(response_time),
            int(fields.get("response_length") or 0),
            None if exception is None else (str(exception) or type(exception).__name__),
        )
    )


def _run_task(node):
    task, parent = _tree[node]
    task(_owner(parent))


def _enter_task_set(node):
    cls, parent = _tree[node]
    instance = cls(_owner(parent))
    _stack.append((node, instance))
    instance.on_start()


class UserExports:
    """The ``user`` interface the host drives."""

    def describe(self):
        for name in _unfired:
            _log.write(
                _log.Level.WARNING,
                f"events.{name} listeners are never called on this platform",
            )
        if _shape_class is not None:
            _test_plan.declare_shape(_shape_class.__name__)
        return _description

    def create(self, class_):
        global _user, _tree, _create_error
        cls = _classes[class_]
        _tree = _trees[class_]
        try:
            # As Locust's runner: --host is the class's host before any __init__ runs.
            host = _context.host()
            if host is not None:
                cls.host = host
            _user = cls(_env())
        except BaseException as exception:
            # `create` cannot fail; the error surfaces from on_start, traceback and all.
            _create_error = _error(exception)

    def on_start(self):
        if _create_error is not None:
            raise _create_error
        return _outcome(lambda: _user.on_start())

    def on_stop(self):
        if _user is not None:
            _quietly(lambda: _user.on_stop())

    def run_task(self, node):
        return _outcome(lambda: _run_task(node))

    def start_task_set(self, node):
        return _outcome(lambda: _enter_task_set(node))

    def stop_task_set(self, node):
        while _stack:
            entered, instance = _stack.pop()
            if entered == node:
                _quietly(lambda: instance.on_stop())
                return

    def wait_time(self, node):
        try:
            owner = _user if node is None else _owner(node)
            return float(owner.wait_time())
        except BaseException:
            _report_error("the wait_time method")
            return float("nan")


class HookExports:
    """The ``hooks`` interface: listeners, run in the hooks instance."""

    def init(self):
        environment = _env()
        _fire(_events.init, environment=environment, runner=environment.runner, web_ui=None)

    def test_start(self):
        _fire(_events.test_start, environment=_env())

    def test_stop(self):
        _fire(_events.test_stop, environment=_env())

    def quitting(self):
        _fire(_events.quitting, environment=_env())

    def on_request(self, entry):
        try:
            fields = {
                "request_type": entry.request_type,
                "name": entry.name,
                "response_time": entry.response_time_ms,
                "response_length": entry.response_length,
            }
            if entry.error is None:
                _call_listeners(_events.request_success, fields)
                _call_listeners(_events.request, dict(fields, exception=None, context={}))
            else:
                failure = Exception(entry.error)
                _call_listeners(_events.request_failure, dict(fields, exception=failure))
                _call_listeners(_events.request, dict(fields, exception=failure, context={}))
        except BaseException:
            _report_error("an events.request listener")

    def report_to_master(self):
        data = {}
        try:
            _call_listeners(_events.report_to_master, {"client_id": "worker", "data": data})
        except BaseException:
            _report_error("an events.report_to_master listener")
            return None
        return json.dumps(data).encode() if data else None

    def worker_report(self, worker_id, data):
        try:
            _call_listeners(
                _events.worker_report, {"client_id": worker_id, "data": json.loads(data)}
            )
        except BaseException:
            _report_error("an events.worker_report listener")


def _shape_instance():
    global _shape
    if _shape is None:
        shape = _shape_class()
        shape.runner = _env().runner
        _shape = shape
    return _shape


def _class_names(user_classes):
    names = []
    for cls in user_classes:
        name = cls if isinstance(cls, str) else getattr(cls, "__name__", None)
        if not isinstance(name, str):
            raise TypeError(f"tick() named {cls!r} as a user class: give User classes")
        names.append(name)
    return names


def _shape_tick(value):
    """What ``tick()`` returned, for the host."""
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or len(value) not in (2, 3):
        raise TypeError(
            f"tick() returned {value!r}: return (users, spawn_rate), "
            "(users, spawn_rate, user_classes) or None"
        )
    users, spawn_rate = value[0], value[1]
    user_classes = value[2] if len(value) == 3 else None
    if isinstance(users, bool) or not isinstance(users, (int, float)) or users < 0:
        raise TypeError(f"tick() returned {users!r} users: give a number of users, 0 or more")
    if isinstance(spawn_rate, bool) or not isinstance(spawn_rate, (int, float)):
        raise TypeError(f"tick() returned {spawn_rate!r} as the spawn rate: give a number")
    classes = None if user_classes is None else _class_names(user_classes)
    return _load_shape.ShapeTick(int(users), float(spawn_rate), classes)


class ShapeExports:
    """The ``load-shape`` interface: the locustfile's ``LoadTestShape``, in the hooks instance."""

    def reset(self):
        if _shape_class is None:
            return
        try:
            _shape_instance().reset_time()
        except BaseException as exception:
            raise _error(exception) from None

    def tick(self):
        if _shape_class is None:
            return None
        try:
            return _shape_tick(_shape_instance().tick())
        except BaseException as exception:
            raise _error(exception) from None


def _call_listeners(hook, fields):
    """Call a hook's listeners (the request events' own ``fire`` records instead)."""
    EventHook.fire(hook, **fields)


def _fire(hook, **fields):
    try:
        _call_listeners(hook, fields)
    except BaseException as exception:
        raise _error(exception) from None
