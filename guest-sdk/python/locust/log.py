"""``locust.log``: the host owns the log (``--loglevel``, ``--logfile``), and Python's
``logging`` already writes into it, so setting logging up here changes nothing."""

import logging as _logging

unhandled_greenlet_exception = False


def setup_logging(loglevel="INFO", logfile=None):
    """Accepted for locustfiles that call it; the host's ``--loglevel`` and ``--logfile``
    decide where log lines go."""
    del logfile
    _logging.getLogger().setLevel(str(loglevel).upper())


def greenlet_exception_logger(logger, level=_logging.CRITICAL):
    """A function logging an exception with ``logger`` at ``level``."""

    def log(greenlet):
        logger.log(level, "Unhandled exception in greenlet: %s", greenlet)

    return log


__all__ = ["setup_logging", "greenlet_exception_logger", "unhandled_greenlet_exception"]
