"""``locust.user.wait_time``: the wait policies (defined in ``locust.wait_time``)."""

from ..wait_time import between, constant, constant_pacing, constant_throughput

__all__ = ["between", "constant", "constant_pacing", "constant_throughput"]
