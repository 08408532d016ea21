# The quick start of Locust's documentation (1.3.1), unchanged except for the login, which
# goes through common/auth.py beside it, as the docs' "How to structure your test code"
# suggests. Run it with:  locust -f examples/python/locustfile.py --demo
import random
from locust import HttpUser, task, between

from common.auth import login


class QuickstartUser(HttpUser):
    wait_time = between(5, 9)

    @task
    def index_page(self):
        self.client.get("/hello")
        self.client.get("/world")

    @task(3)
    def view_item(self):
        item_id = random.randint(1, 10000)
        self.client.get(f"/item?id={item_id}", name="/item")

    def on_start(self):
        login(self.client, "foo", "bar")
