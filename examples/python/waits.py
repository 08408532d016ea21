# wait_time (2.1.1.1): a custom wait_time method that sleeps 1, 2, 3... seconds, and
# constant_pacing; time.sleep inside a task parks only that user.
import time

from locust import HttpUser, constant_pacing, task


class GrowingWaitUser(HttpUser):
    last_wait_time = 0

    def wait_time(self):
        self.last_wait_time += 1
        return self.last_wait_time

    @task
    def tick(self):
        self.client.get("/growing")


class PacedUser(HttpUser):
    wait_time = constant_pacing(1)

    @task
    def paced(self):
        time.sleep(0.4)
        self.client.get("/paced")
