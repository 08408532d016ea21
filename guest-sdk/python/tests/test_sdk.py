"""Unit tests of the Python SDK: task collection as Locust's metaclasses do it, the task tree
the host receives, options, outcomes and errors, and the HTTP client's requests."""

import types
import unittest

import fake_host  # noqa: F401  (replaces the host's imports first)
from componentize_py_types import Err
from wit_world.imports import http
from wit_world.imports import types as wit

import locust
from locust import (
    HttpUser,
    SequentialTaskSet,
    TaskSet,
    User,
    between,
    constant,
    constant_pacing,
    events,
    tag,
    task,
)
from locust import _runtime
from locust.exception import RescheduleTask, StopUser


def describe(**namespace):
    """Describe a module holding `namespace` as a locustfile would."""
    _runtime._classes.clear()
    _runtime._trees.clear()
    module = types.ModuleType("locustfile_under_test")
    module.__dict__.update(namespace)
    _runtime._describe(module, "locustfile_under_test")
    return _runtime._description


def one(user_a):
    pass


def two(user_a):
    pass


class TaskCollection(unittest.TestCase):
    def test_decorated_tasks_repeat_by_weight_in_declaration_order(self):
        class U(User):
            @task(2)
            def a(self):
                pass

            @task
            def b(self):
                pass

            @task(0)
            def never(self):
                pass

        self.assertEqual([t.__name__ for t in U.tasks], ["a", "a", "b"])

    def test_tasks_attribute_dicts_lists_and_inheritance(self):
        class Base(User):
            abstract = True
            tasks = {one: 3, two: 1}

        class Child(Base):
            @task
            def own(self):
                pass

        self.assertFalse(Child.abstract, "abstract is not inherited")
        self.assertEqual([t.__name__ for t in Child.tasks], ["one"] * 3 + ["two", "own"])

    def test_sequential_sets_keep_the_tasks_attribute_where_it_is_declared(self):
        class S(SequentialTaskSet):
            @task
            def first(self):
                pass

            tasks = [one]

            @task
            def second(self):
                pass

        self.assertEqual([t.__name__ for t in S.tasks], ["first", "one", "second"])
        with self.assertRaises(ValueError):

            class Bad(SequentialTaskSet):
                tasks = {one: 1}

    def test_tags_accumulate_and_need_names(self):
        @tag("a")
        @tag("b")
        def tagged(user):
            pass

        self.assertEqual(tagged.locust_tag_set, {"a", "b"})
        with self.assertRaises(ValueError):
            tag()


class TaskTree(unittest.TestCase):
    def test_the_host_gets_weights_kinds_parents_tags_and_waits(self):
        class Forum(TaskSet):
            wait_time = constant(2)

            @tag("forum")
            @task(3)
            def read(self):
                pass

            @task
            def leave(self):
                self.interrupt()

        class Flow(SequentialTaskSet):
            tasks = [one, one, two, one]

        class Visitor(HttpUser):
            host = "http://example"
            weight = 4
            wait_time = between(1, 2)
            tasks = {Forum: 2, Flow: 1}

            @task
            def home(self):
                pass

        description = describe(Visitor=Visitor, HttpUser=HttpUser, locust=locust)
        (cls,) = description.classes
        self.assertEqual((cls.name, cls.weight, cls.host), ("Visitor", 4, "http://example"))
        self.assertEqual(cls.wait, wit.WaitPolicy_Between(wit.WaitRange(1.0, 2.0)))
        nodes = [(n.parent, n.kind.name, n.name, n.weight, n.tags) for n in cls.tasks]
        self.assertEqual(
            nodes,
            [
                (None, "TASK_SET", "Forum", 2, []),
                (0, "TASK", "read", 3, ["forum"]),
                (0, "TASK", "leave", 1, []),
                (None, "SEQUENTIAL_TASK_SET", "Flow", 1, []),
                (3, "TASK", "one", 2, []),
                (3, "TASK", "two", 1, []),
                (3, "TASK", "one", 1, []),
                (None, "TASK", "home", 1, []),
            ],
        )
        self.assertEqual(cls.tasks[0].wait, wit.WaitPolicy_Constant(2.0))
        self.assertIsNone(cls.tasks[3].wait, "a set without wait_time uses the user's")

    def test_custom_waits_and_pacing(self):
        class Paced(User):
            wait_time = constant_pacing(3)

            @task
            def t(self):
                pass

        class Custom(User):
            def wait_time(self):
                return 0.5

            @task
            def t(self):
                pass

        description = describe(Paced=Paced, Custom=Custom)
        self.assertEqual(description.classes[0].wait, wit.WaitPolicy_ConstantPacing(3.0))
        self.assertEqual(description.classes[1].wait, wit.WaitPolicy_Custom())

    def test_a_module_without_users_and_bad_weights_are_refused(self):
        with self.assertRaisesRegex(RuntimeError, "defines no user class"):
            describe(HttpUser=HttpUser)

        class Heavy(User):
            weight = 0

            @task
            def t(self):
                pass

        with self.assertRaisesRegex(ValueError, "whole number >= 1"):
            describe(Heavy=Heavy)

    def test_hooks_follow_the_listeners_present(self):
        class U(User):
            @task
            def t(self):
                pass

        events.test_start._handlers.clear()
        events.quitting._handlers.clear()
        self.assertEqual(describe(U=U).hooks, wit.HookSet(0))
        events.test_start.add_listener(lambda **kw: None)
        events.quitting.add_listener(lambda **kw: None)
        try:
            hooks = describe(U=U).hooks
            self.assertEqual(hooks, wit.HookSet.TEST_START | wit.HookSet.QUITTING)
        finally:
            events.test_start._handlers.clear()
            events.quitting._handlers.clear()


class Running(unittest.TestCase):
    def setUp(self):
        fake_host.reset()
        self.exports = _runtime.UserExports()

    def start(self, cls):
        describe(**{cls.__name__: cls})
        _runtime._stack.clear()
        _runtime._create_error = None
        self.exports.create(0)

    def test_outcomes_and_errors(self):
        class U(HttpUser):
            @task
            def ok(self):
                self.client.get("/ok")

            @task
            def stop(self):
                raise StopUser()

            @task
            def again(self):
                raise RescheduleTask()

            @task
            def broken(self):
                return {}["missing"]

        self.start(U)
        done = wit.TaskOutcome
        self.assertEqual(self.exports.run_task(0), done.DONE)
        self.assertEqual(self.exports.run_task(1), done.STOP_USER)
        self.assertEqual(self.exports.run_task(2), done.DONE)
        with self.assertRaises(Err) as raised:
            self.exports.run_task(3)
        error = raised.exception.value
        self.assertEqual(error.message, "KeyError: 'missing'")
        self.assertIn("in broken", error.traceback)
        self.assertNotIn("_runtime.py", error.traceback)

    def test_task_sets_run_on_their_own_instance_and_interrupt(self):
        seen = []

        class Inner(TaskSet):
            def on_start(self):
                seen.append(("start", type(self.parent).__name__))

            @task
            def t(self):
                seen.append(("task", type(self).__name__, type(self.user).__name__))
                self.interrupt(reschedule=False)

            def on_stop(self):
                seen.append("stop")

        class U(User):
            tasks = [Inner]

        self.start(U)
        self.assertEqual(self.exports.start_task_set(0), wit.TaskOutcome.DONE)
        self.assertEqual(self.exports.run_task(1), wit.TaskOutcome.INTERRUPT_NO_RESCHEDULE)
        self.exports.stop_task_set(0)
        self.assertEqual(seen, [("start", "U"), ("task", "Inner", "U"), "stop"])

    def test_an_exception_in_init_is_reported_by_on_start(self):
        class U(User):
            def __init__(self, environment):
                raise RuntimeError("no config")

            @task
            def t(self):
                pass

        self.start(U)
        with self.assertRaises(Err) as raised:
            self.exports.on_start()
        self.assertEqual(raised.exception.value.message, "RuntimeError: no config")

    def test_options_are_declared_and_converted(self):
        def declare(parser):
            parser.add_argument("--my-argument", default="x", help="It's working")
            parser.add_argument("--pages", type=int, default=2)
            parser.add_argument("--verbose-mode", action="store_true")

        class U(User):
            @task
            def t(self):
                pass

        events.init_command_line_parser.add_listener(declare)
        try:
            description = describe(U=U)
        finally:
            events.init_command_line_parser.remove_listener(declare)
        specs = [(o.name, o.default, o.help) for o in description.options]
        self.assertEqual(
            specs,
            [
                ("my-argument", "x", "It's working"),
                ("pages", "2", ""),
                ("verbose-mode", "false", "(true or false)"),
            ],
        )
        fake_host.options.update({"pages": "5", "verbose-mode": "yes"})
        options = _runtime._env().parsed_options
        self.assertEqual(options.pages, 5)
        self.assertIs(options.verbose_mode, True)
        self.assertEqual(options.my_argument, "x", "unset: the declared default")
        with self.assertRaisesRegex(AttributeError, "declare it with parser.add_argument"):
            options.unknown


class Client(unittest.TestCase):
    def setUp(self):
        fake_host.reset()
        self.client = locust.clients.HttpSession(base_url="http://target")

    def test_requests_carry_locusts_arguments(self):
        self.client.post(
            "/login",
            {"user": "a b", "tags": ["x", "y"]},
            params=[("page", 2)],
            headers={"X-Test": "1"},
            auth=("alice", "secret"),
            timeout=(1, 2),
            name="/login",
        )
        (request,) = fake_host.sent
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.body, b"user=a+b&tags=x&tags=y")
        self.assertIn(("content-type", "application/x-www-form-urlencoded"), request.headers)
        self.assertIn(("X-Test", "1"), request.headers)
        self.assertEqual(request.query, [("page", "2")])
        self.assertEqual(request.basic_auth, ("alice", "secret"))
        self.assertEqual(request.timeout, 3.0)
        self.assertEqual(request.name, "/login")
        self.client.put("/doc", json={"n": 1})
        self.assertEqual(fake_host.sent[1].json, '{"n": 1}')
        with self.assertRaisesRegex(TypeError, "unexpected keyword argument 'bogus'"):
            self.client.get("/", bogus=1)

    def test_files_are_uploaded_as_multipart_form_data(self):
        import email.parser
        import io

        report = io.BytesIO(b"a,b\r\n1,2\r\n")
        report.name = "/somewhere/report.csv"
        self.client.post(
            "/upload",
            data={"title": 'Q3 "final"'},
            files={
                "report": report,
                "notes": ("notes.txt", "caf\u00e9", "text/plain; charset=utf-8"),
                "raw": (None, b"\x00\xff"),
            },
        )
        (request,) = fake_host.sent
        (kind,) = [v for k, v in request.headers if k == "content-type"]
        self.assertTrue(kind.startswith("multipart/form-data; boundary="), kind)
        # Python's own MIME parser reads the body back.
        message = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + kind.encode() + b"\r\n\r\n" + request.body
        )
        parts = [
            (
                part.get_param("name", header="content-disposition"),
                part.get_filename(),
                part.get_content_type(),
                part.get_payload(decode=True),
            )
            for part in message.get_payload()
        ]
        self.assertEqual(
            parts,
            [
                ("title", None, "text/plain", b'Q3 "final"'),
                ("report", "report.csv", "text/plain", b"a,b\r\n1,2\r\n"),
                ("notes", "notes.txt", "text/plain", "caf\u00e9".encode()),
                ("raw", None, "text/plain", b"\x00\xff"),
            ],
        )
        self.client.post("/upload", files={"f": b"x"}, headers={"Content-Type": "custom"})
        kinds = [v for k, v in fake_host.sent[1].headers if k.lower() == "content-type"]
        self.assertEqual(kinds, ["custom"])
        with self.assertRaisesRegex(TypeError, "files= entry 'f' is int"):
            self.client.post("/upload", files={"f": 1})

    def test_responses_read_lazily_and_check_their_status(self):
        response = self.client.get("/")
        self.assertTrue(response.ok)
        self.assertEqual(response.text, "ok")
        self.assertEqual(response.headers["Content-Type"], "text/plain")
        self.assertEqual(response.elapsed.total_seconds(), 0.0015)
        fake_host.next_status[0] = 404
        missing = self.client.get("/missing")
        self.assertFalse(missing.ok)
        with self.assertRaises(locust.exception.ResponseError):
            missing.raise_for_status()

    def test_catch_response_resolves_once_with_the_last_verdict(self):
        with self.client.get("/", catch_response=True) as response:
            response.failure("first")
            response.success()
        self.assertEqual(fake_host.resolved, [(1, http.Verdict_Success())])
        with self.client.get("/", catch_response=True) as response:
            raise locust.exception.ResponseError("bad body")
        self.assertEqual(fake_host.resolved[1], (2, http.Verdict_Failure("bad body")))
        outside = self.client.get("/", catch_response=True)
        outside.failure("now")
        self.assertEqual(fake_host.resolved[2], (3, http.Verdict_Failure("now")))

    def test_custom_clients_fire_request_events_into_the_statistics(self):
        events.request_success.fire(
            request_type="xmlrpc", name="get_time", response_time=12, response_length=3
        )
        events.request_failure.fire(
            request_type="xmlrpc", name="get_time", response_time=5, exception=ValueError("x")
        )
        self.assertEqual(
            [(r.request_type, r.name, r.response_time_ms, r.error) for r in fake_host.recorded],
            [("xmlrpc", "get_time", 12.0, None), ("xmlrpc", "get_time", 5.0, "x")],
        )


if __name__ == "__main__":
    unittest.main()
