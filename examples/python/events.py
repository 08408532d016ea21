# test_start / test_stop (2.1.6), a request listener (4.4), a custom command-line option
# (init_command_line_parser), quitting, print and logging into the host's log.
import logging

from locust import HttpUser, constant, events, task

seen = {"success": 0, "failure": 0}


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--my-argument", type=str, env_var="LOCUST_MY_ARGUMENT", default="", help="It's working")
    parser.add_argument("--pages", type=int, default=2, help="Pages per task")


@events.test_start.add_listener
def on_test_start(environment, **kwargs):
    print("A new test is starting")
    print("Custom argument supplied: %s" % environment.parsed_options.my_argument)


@events.test_stop.add_listener
def on_test_stop(**kwargs):
    print("A new test is ending")
    logging.info("listener saw %d successes and %d failures", seen["success"], seen["failure"])


@events.quitting.add_listener
def on_quitting(**kwargs):
    print("quitting after %d requests" % (seen["success"] + seen["failure"]))


@events.request_success.add_listener
def my_success_handler(request_type, name, response_time, response_length, **kw):
    seen["success"] += 1


@events.request_failure.add_listener
def my_failure_handler(request_type, name, response_time, exception, **kw):
    seen["failure"] += 1


class EventUser(HttpUser):
    wait_time = constant(0.02)

    @task
    def pages(self):
        for page in range(self.environment.parsed_options.pages):
            self.client.get(f"/page/{page}")
        self.client.get("/status/500")
