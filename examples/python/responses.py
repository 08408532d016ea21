# "Manually controlling if a request should be considered successful or a failure" (2.1.7.3)
# and "Grouping requests to URLs with dynamic parameters" (2.1.7.4).
from locust import HttpUser, constant, task


class ResponseUser(HttpUser):
    wait_time = constant(0.05)

    @task
    def wrong_content(self):
        with self.client.get("/", catch_response=True) as response:
            if response.content != b"Success":
                response.failure("Got wrong response")

    @task
    def expected_404(self):
        with self.client.get("/status/404", catch_response=True) as response:
            if response.status_code == 404:
                response.success()

    @task
    def grouped(self):
        # Statistics for these requests will be grouped under: /blog?id=[id]
        for i in range(10):
            self.client.get("/blog?id=%i" % i, name="/blog?id=[id]")

    @task
    def inspect(self):
        response = self.client.post("/echo", json={"n": 1}, headers={"X-Test": "yes"})
        assert response.ok and response.status_code == 200
        assert response.text.startswith("application/json"), response.text
        assert response.headers["Content-Length"] == str(len(response.content))

    @task
    def upload(self):
        # A multipart upload, as with requests' files=.
        report = ("report.csv", "a,b\r\n1,2\r\n", "text/csv")
        response = self.client.post("/upload", data={"title": "Q3"}, files={"report": report})
        response.raise_for_status()
