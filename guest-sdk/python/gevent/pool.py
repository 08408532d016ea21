"""Not available in a WebAssembly user (see ``gevent``)."""

from . import _unsupported


class Pool:
    """Constructing one raises."""

    def __init__(self, *args, **kwargs):
        _unsupported()


Group = Pool
