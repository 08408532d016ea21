"""``run_single_user``: importable so that locustfiles written for Locust 2.x load; it runs a
user in Locust's own Python process, which a WebAssembly user does not have."""


def run_single_user(user_class, *args, **kwargs):
    """Not available here: run the file with ``locust -f FILE --headless -u 1 -t 30s``."""
    raise RuntimeError(
        f"run_single_user({getattr(user_class, '__name__', user_class)}) runs a user inside "
        "Python; with this host run the locustfile instead: locust -f FILE --headless -u 1 -t 30s"
    )


__all__ = ["run_single_user"]
