# The benchmark's Python users, run unchanged by this host (built with componentize-py) and by
# Locust itself (the reference), against the benchmark's target.
from locust import FastHttpUser, task


class Hammer(FastHttpUser):
    """One GET per task, no wait: CPU per request."""

    @task
    def hello(self):
        self.client.get("/hello")


class Idle(FastHttpUser):
    """on_start, 100 tasks without waiting, then an hour's wait: memory per idle user."""

    def on_start(self):
        self.done = 0

    def wait_time(self):
        return 3600 if self.done >= 100 else 0

    @task
    def hello(self):
        self.done += 1
        self.client.get("/hello")


class Starter(FastHttpUser):
    """One request, then an hour's wait: users started per second."""

    def wait_time(self):
        return 3600

    @task
    def hello(self):
        self.client.get("/hello")
