"""``FastHttpUser``: in this SDK every request goes through the host's client, so it is the
same class as ``HttpUser``."""

from ..clients import HttpSession as FastHttpSession
from ..clients import Response as FastResponse
from ..user import FastHttpUser

__all__ = ["FastHttpUser", "FastHttpSession", "FastResponse"]
