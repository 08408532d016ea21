# "SequentialTaskSet class" (2.1.4): tasks run in declaration order, the tasks attribute
# where it is declared, round and round.
from locust import HttpUser, SequentialTaskSet, constant, task


def function_task(taskset):
    taskset.client.get("/function_task")


class SequenceOfTasks(SequentialTaskSet):
    @task
    def first_task(self):
        self.client.get("/first_task")

    tasks = [function_task]

    @task
    def second_task(self):
        self.client.get("/second_task")

    @task
    def third_task(self):
        self.client.get("/third_task")


class SequentialUser(HttpUser):
    wait_time = constant(0.01)
    tasks = [SequenceOfTasks]
