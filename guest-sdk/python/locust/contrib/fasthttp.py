"""``FastHttpUser``: in this SDK every request goes through the host's client, so it is
``HttpUser`` plus Locust 2.x's ``rest``/``rest_`` helpers."""

from ..clients import HttpSession as FastHttpSession
from ..clients import Response as FastResponse
from ..clients import ResponseContextManager
from ..clients import ResponseContextManager as RestResponseContextManager
from ..user import FastHttpUser

__all__ = [
    "FastHttpUser",
    "FastHttpSession",
    "FastResponse",
    "ResponseContextManager",
    "RestResponseContextManager",
]
