# "TaskSet class" (2.1.3): a set given in a weighted dict, a set inlined with @task, nesting,
# interrupt(), and the set's own wait_time. Waits are shortened from the docs' 5-120 s.
from locust import HttpUser, TaskSet, between, constant, task


class ForumSection(TaskSet):
    wait_time = constant(0)

    @task(10)
    def view_thread(self):
        self.client.get("/forum/thread")

    @task(1)
    def create_thread(self):
        self.client.post("/forum/thread", json={"title": "hello"})

    @task(1)
    def stop(self):
        self.interrupt()

    def on_start(self):
        self.client.get("/forum/enter")

    def on_stop(self):
        self.client.get("/forum/leave")


class LoggedInUser(HttpUser):
    wait_time = between(0, 0.01)
    tasks = {ForumSection: 2}

    @task
    def index_page(self):
        self.client.get("/")

    @task(1)
    class Account(TaskSet):
        @task
        class Settings(TaskSet):
            @task
            def change(self):
                assert self.parent.__class__.__name__ == "Account"
                assert self.user is self.parent.user
                self.client.get("/account/settings")
                self.interrupt(reschedule=False)

        @task
        def leave(self):
            self.client.get("/account/leave")
            self.interrupt()
