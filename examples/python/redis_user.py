# A Redis user in Python, through the redis plugin: run with
#   locust -f examples/python/redis_user.py --plugin plugins/redis --host redis://127.0.0.1:6379
# The plugin's interface (plugins/redis/wit/redis.wit) is imported like any WIT import of a
# componentize-py component; every command is timed and recorded by the plugin
# (`redis GET`, `redis SET`, `redis INCR`).
import random

from locust import User, between, task
from wit_world.imports import client as redis


class RedisUser(User):
    wait_time = between(0.01, 0.05)

    def on_start(self):
        self.redis = redis.Connection.open(self.host)
        self.key = b"python:%d" % random.randrange(1_000_000)

    @task
    def write(self):
        self.redis.command([b"SET", self.key, b"%d" % random.randrange(1000)], None)

    @task(3)
    def read(self):
        reply = self.redis.command([b"GET", self.key], None)
        if not isinstance(reply, (redis.Reply_Bulk, redis.Reply_Nil)):
            raise RuntimeError(f"GET answered {reply!r}")

    @task
    def count(self):
        self.redis.command([b"INCR", b"visits"], "INCR visits")
