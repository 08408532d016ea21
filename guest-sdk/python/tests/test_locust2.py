"""Locust 2.x's API beside 1.0.2's: module paths, MarkovTaskSet, rest(), request_name,
constant_throughput, runners, log, run_single_user, LoadTestShape and the runner view."""

import collections
import random
import unittest

import fake_host  # noqa: F401  (replaces the host's imports first)
from wit_world.imports import http

import locust
from locust import FastHttpUser, MarkovTaskSet, User, constant, transition, transitions
from locust.user import markov_taskset


class ModulePaths(unittest.TestCase):
    def test_locust_2_imports_resolve(self):
        from locust import LoadTestShape, constant_throughput, events, run_single_user  # noqa: F401
        from locust.contrib.fasthttp import RestResponseContextManager  # noqa: F401
        from locust.log import setup_logging
        from locust.runners import STATE_STOPPED, MasterRunner, WorkerRunner  # noqa: F401
        from locust.user import task
        from locust.user.task import SequentialTaskSet, TaskSet  # noqa: F401
        from locust.user.wait_time import between, constant as user_constant  # noqa: F401

        self.assertIs(task, locust.task)
        self.assertEqual(STATE_STOPPED, "stopped")
        self.assertFalse(isinstance(None, WorkerRunner))
        setup_logging("INFO")
        self.assertEqual(constant_throughput(4).low, 0.25)
        self.assertEqual(constant_throughput(4).kind, "constant-pacing")
        with self.assertRaisesRegex(RuntimeError, "locust -f FILE --headless -u 1"):
            run_single_user(User)



class Stages(locust.LoadTestShape):
    def tick(self):
        return (3, 1.5, [Walker]) if self.get_run_time() < 60 else None


class Shapes(unittest.TestCase):
    def test_subclasses_are_concrete_unless_they_say_otherwise(self):
        class Base(locust.LoadTestShape):
            abstract = True

        class Concrete(Base):
            def tick(self):
                return None

        self.assertTrue(locust.LoadTestShape.abstract)
        self.assertTrue(Base.abstract)
        self.assertFalse(Concrete.abstract)
        self.assertFalse(Stages.abstract)

    def test_ticks_become_what_the_host_reads(self):
        from locust import _runtime

        tick = _runtime._shape_tick(Stages().tick())
        self.assertEqual((tick.users, tick.spawn_rate, tick.user_classes), (3, 1.5, ["Walker"]))
        tick = _runtime._shape_tick((5, 2))
        self.assertEqual((tick.users, tick.spawn_rate, tick.user_classes), (5, 2.0, None))
        self.assertIsNone(_runtime._shape_tick(None))
        for wrong in [(1,), "10", (-1, 1), ("1", 1), (1, 1, [object()])]:
            with self.assertRaises(TypeError, msg=repr(wrong)):
                _runtime._shape_tick(wrong)

    def test_run_time_restarts_on_reset(self):
        shape = Stages()
        shape.start_time -= 100
        self.assertIsNone(shape.tick())
        shape.reset_time()
        self.assertLess(shape.get_run_time(), 1)


class RunnerView(unittest.TestCase):
    def test_the_runner_reads_the_host(self):
        from locust import runners

        runner = runners.for_process(None)
        self.assertIsInstance(runner, runners.LocalRunner)
        self.assertEqual(runner.state, runners.STATE_RUNNING)
        self.assertEqual(runner.user_count, 3)
        self.assertEqual(runner.user_classes_count, {"Walker": 3})
        total = runner.stats.total
        self.assertEqual((total.num_requests, total.num_failures), (10, 3))
        self.assertAlmostEqual(total.fail_ratio, 0.3)
        self.assertEqual(total.get_response_time_percentile(0.95), 95.0)
        self.assertEqual(runner.stats.get("/missing", "GET").num_requests, 0)
        self.assertEqual(runner.stats.get("/missing", "GET").fail_ratio, 0.0)
        runner.quit()
        self.assertEqual(fake_host.ended, ["quit"])
        with self.assertRaisesRegex(NotImplementedError, "test_start hook"):
            runner.send_message("x")


class Chain(MarkovTaskSet):
    @transition("b")
    def a(self):
        self.user.visited.append("a")

    @transitions({"a": 1, "c": 3})
    def b(self):
        self.user.visited.append("b")

    @transitions([("a", 2), "b"])
    def c(self):
        self.user.visited.append("c")


class Walker(User):
    tasks = [Chain]
    wait_time = constant(0)


class Markov(unittest.TestCase):
    def test_one_host_task_walks_the_chain_by_its_weights(self):
        self.assertEqual([task.__name__ for task in Chain.tasks], ["markov_step"])
        user = Walker(None)
        user.visited = []
        chain = Chain(user)
        random.seed(5)
        for _ in range(6000):
            Chain.tasks[0](chain)
        self.assertEqual(user.visited[0], "a")
        following = collections.Counter(zip(user.visited, user.visited[1:]))
        self.assertEqual(set(following), {("a", "b"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "b")})
        from_b = following[("b", "c")] / (following[("b", "c")] + following[("b", "a")])
        from_c = following[("c", "a")] / (following[("c", "a")] + following[("c", "b")])
        self.assertAlmostEqual(from_b, 0.75, delta=0.04)
        self.assertAlmostEqual(from_c, 2 / 3, delta=0.04)

    def test_chains_are_checked_when_declared(self):
        with self.assertRaises(markov_taskset.InvalidTransitionError):

            class Broken(MarkovTaskSet):
                @transition("nowhere")
                def a(self):
                    pass

        with self.assertRaises(markov_taskset.NonMarkovTaskTransitionError):

            class Dead(MarkovTaskSet):
                @transition("plain")
                def a(self):
                    pass

                def plain(self):
                    pass

        with self.assertRaises(markov_taskset.NoMarkovTasksError):

            class Empty(MarkovTaskSet):
                pass


class Api(FastHttpUser):
    host = "http://target"


class Rest(unittest.TestCase):
    def setUp(self):
        fake_host.reset()
        self.user = Api(locust.env.Environment(locust.events, {}, [Api]))

    def respond(self, body, content_type="application/json"):
        original = fake_host.FakeData

        def data(*_args):
            return original(body.encode(), (("content-type", content_type),))

        fake_host.FakeData = data
        self.addCleanup(setattr, fake_host, "FakeData", original)

    def test_json_is_parsed_and_asserts_become_failures(self):
        self.respond('{"foo": 1}')
        with self.user.rest("POST", "/post", json={"foo": 1}) as resp:
            self.assertEqual(resp.js, {"foo": 1})
            assert resp.js["foo"] == 2, "wrong foo"
        sent = fake_host.sent[-1]
        self.assertIn(("Content-Type", "application/json"), sent.headers)
        self.assertIn(("Accept", "application/json"), sent.headers)
        self.assertEqual(fake_host.resolved[-1][1], http.Verdict_Failure("wrong foo"))
        with self.user.rest("GET", "/get") as resp:
            1 / 0  # noqa: B018
        verdict = fake_host.resolved[-1][1]
        self.assertTrue(verdict.value.startswith("ZeroDivisionError: division by zero at "), verdict)
        with self.user.rest("GET", "/get") as resp:
            pass
        self.assertEqual(type(fake_host.resolved[-1][1]).__name__, "Verdict_ByStatus")

    def test_a_body_that_is_not_json_fails(self):
        self.respond("<html>", "text/html")
        with self.user.rest("GET", "/") as resp:
            self.assertIsNone(resp.js)
        self.assertIn("Could not parse response as JSON", fake_host.resolved[-1][1].value)

    def test_an_invalid_method_stops_the_task_before_sending(self):
        with self.assertRaisesRegex(ValueError, "invalid HTTP method ''"):
            with self.user.rest("", "/post", json={"foo": 1}):
                pass
        self.assertEqual(fake_host.sent, [])

    def test_rest_underscore_breaks_caches_under_one_name(self):
        self.respond("{}")
        with self.user.rest_("GET", "/items?page=1"):
            pass
        sent = fake_host.sent[-1]
        self.assertRegex(sent.url, r"^/items\?page=1&_=\d+$")
        self.assertEqual(sent.name, "/items?page=1&_=...")

    def test_request_name_groups_requests(self):
        with self.user.client.rename_request("/item/[id]"):
            self.user.client.get("/item/1")
            self.user.client.get("/item/2", name="explicit")
        self.user.client.request_name = "/other"
        self.user.client.get("/x")
        self.user.client.request_name = None
        self.user.client.get("/y")
        self.assertEqual(
            [request.name for request in fake_host.sent],
            ["/item/[id]", "explicit", "/other", None],
        )


if __name__ == "__main__":
    unittest.main()
