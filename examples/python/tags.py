# "Tagging tasks" (2.1.2.3): run with --tags and --exclude-tags.
from locust import HttpUser, constant, tag, task


class MyUser(HttpUser):
    wait_time = constant(0.01)

    @tag("tag1")
    @task
    def task1(self):
        self.client.get("/task1")

    @tag("tag1", "tag2")
    @task
    def task2(self):
        self.client.get("/task2")

    @tag("tag3")
    @task
    def task3(self):
        self.client.get("/task3")

    @task
    def task4(self):
        self.client.get("/task4")
