# "Declaring tasks" and "tasks attribute" (2.1.2), and the weight attribute (2.1.1.2):
# tasks as decorated methods with weights, as plain functions in a list or a weighted dict.
# The docs wait 5-15 s between tasks; these users wait 0 so that a short run shows the shares.
from locust import HttpUser, constant, task


def my_task(user):
    user.client.get("/my_task")


def another_task(user):
    user.client.get("/another_task")


class DictUser(HttpUser):
    weight = 3
    wait_time = constant(0)
    tasks = {my_task: 3, another_task: 1}


class DecoratedUser(HttpUser):
    weight = 1
    wait_time = constant(0)

    @task(3)
    def task1(self):
        self.client.get("/task1")

    @task(6)
    def task2(self):
        self.client.get("/task2")


class ListUser(HttpUser):
    # Not weighted: picked from the list uniformly; an abstract base shares its tasks.
    abstract = True
    wait_time = constant(0)
    tasks = [my_task]


class InheritingUser(ListUser):
    weight = 1

    @task
    def own_task(self):
        self.client.get("/own_task")
