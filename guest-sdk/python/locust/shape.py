"""``LoadTestShape``: importable, so that Locust 2.x locustfiles load and say clearly what is
missing when they define a shape."""


class LoadTestShape:
    """A custom load shape. Defining one fails with a message naming the alternatives, until
    the host drives shapes."""

    abstract = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        raise NotImplementedError(
            f"{cls.__name__}: custom load shapes (LoadTestShape) are not supported by this host "
            "yet; give the load with -u/-r/-t, or --step-load with --step-users and --step-time"
        )


__all__ = ["LoadTestShape"]
