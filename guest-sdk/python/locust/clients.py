"""``self.client``: Locust's ``HttpSession`` API on the host's HTTP client.

Every request is one call to the host, which keeps the user's connections and cookies, times
the request to the end of the body and records it. A connection error or a timeout does not
raise (Locust's safe mode): the response has ``status_code`` 0 and ``error`` set, and the
failure is already in the statistics.
"""

import contextlib as _contextlib
import json as _json
import re as _re
import os as _os
from datetime import timedelta as _timedelta
from urllib.parse import urlencode as _urlencode

from wit_world.imports import http as _http

from .exception import CatchResponseError, ResponseError

_ESCAPES = {10: "%0A", 13: "%0D", 34: "%22"}
_FORM = ("content-type", "application/x-www-form-urlencoded")
_SUCCESS = _http.Verdict_Success()
_BY_STATUS = _http.Verdict_ByStatus()


class CaseInsensitiveDict(dict):
    """Response headers: a dict whose keys are lower case, looked up in any case."""

    def __getitem__(self, key):
        return dict.__getitem__(self, key.lower())

    def get(self, key, default=None):
        return dict.get(self, key.lower(), default)

    def __contains__(self, key):
        return dict.__contains__(self, key.lower())


class Response:
    """What a request returned. ``status_code``, ``ok``, ``error`` and ``elapsed`` are known at
    once; ``url``, ``headers``, ``content``, ``text`` and ``json()`` are fetched from the host
    the first time they are read."""

    __slots__ = ("_raw", "_data", "_body", "_headers", "_url", "request_meta")

    def __init__(self, raw):
        self._raw = raw
        self._data = raw.data
        self._body = None
        self._headers = None
        self._url = None

    @property
    def status_code(self):
        """The HTTP status, or 0 when no response arrived."""
        return self._raw.status

    @property
    def ok(self):
        """True when the request got a status below 400."""
        return 0 < self._raw.status < 400

    @property
    def error(self):
        """Why the request failed (a connection error, a timeout, a status >= 400), or None."""
        return self._raw.error

    @property
    def elapsed(self):
        """Time from sending the request to the end of the body."""
        return _timedelta(milliseconds=self._raw.elapsed_ms)

    @property
    def reason(self):
        """The status line's reason, from the error message when there is one."""
        error = self._raw.error
        return error.split(" ", 1)[1] if error and error[:3].isdigit() else ""

    @property
    def content(self):
        """The body, decompressed; None when no response arrived."""
        if self._body is None and self._data is not None:
            if self._raw.status == 0:
                return None
            self._body = self._data.body()
        return self._body

    @property
    def text(self):
        """The body as text (UTF-8 unless the content type names another charset)."""
        content = self.content
        if content is None:
            return None
        return content.decode(self.encoding or "utf-8", errors="replace")

    @property
    def encoding(self):
        """The charset named by the content type, or None."""
        kind = self.headers.get("content-type", "")
        for part in kind.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset":
                return value.strip('"') or None
        return None

    def json(self, **kwargs):
        """The body parsed as JSON."""
        return _json.loads(self.content, **kwargs)

    @property
    def headers(self):
        """Response headers, case-insensitive."""
        if self._headers is None:
            self._headers = CaseInsensitiveDict(self._data.headers() if self._raw.status else ())
        return self._headers

    @property
    def url(self):
        """The URL of the final response (after redirects)."""
        if self._url is None:
            self._url = self._data.url() if self._raw.status else ""
        return self._url

    @property
    def cookies(self):
        """Cookies this response set (the user's cookie jar itself lives in the host)."""
        found = {}
        if self._raw.status:
            for name, value in self._data.headers():
                if name == "set-cookie":
                    pair = value.split(";", 1)[0]
                    key, _, cookie = pair.partition("=")
                    found[key.strip()] = cookie.strip()
        return found

    def raise_for_status(self):
        """Raise ``ResponseError`` when the request failed."""
        if self._raw.error:
            raise ResponseError(self._raw.error)

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return f"<Response [{self._raw.status}]>"

    def close(self):
        """Let the host drop the response's headers and body now."""
        data, self._data = self._data, None
        if data is not None:
            data.__exit__(None, None, None)


class ResponseContextManager(Response):
    """A ``catch_response=True`` response: inside ``with``, call ``success()`` or
    ``failure(message)``; without a call, the status decides. Only the last call counts."""

    __slots__ = ("_verdict", "_entered", "js")

    def __init__(self, raw):
        super().__init__(raw)
        self._verdict = None
        self._entered = False

    def success(self):
        """Record the request as a success, whatever its status."""
        self._decide(_SUCCESS)

    def failure(self, exc):
        """Record the request as a failure with this message (or exception)."""
        self._decide(_http.Verdict_Failure(str(exc) or type(exc).__name__))

    def _decide(self, verdict):
        if self._entered:
            self._verdict = verdict
        else:
            # Outside a `with` block the call itself records the request.
            _http.resolve(self._raw.id, verdict)

    def __enter__(self):
        self._entered = True
        return self

    def __exit__(self, kind, value, traceback):
        handled = True
        if kind is not None:
            if issubclass(kind, (ResponseError, CatchResponseError)):
                self.failure(value)
            else:
                handled = False
        _http.resolve(self._raw.id, self._verdict or _BY_STATUS)
        return handled


def _pairs(values):
    if values is None:
        return []
    if isinstance(values, dict):
        values = values.items()
    elif isinstance(values, (str, bytes)):
        raise TypeError("params= takes a dict or a list of (name, value) pairs")
    pairs = []
    for key, value in values:
        if isinstance(value, (list, tuple)):
            pairs.extend((str(key), _text(item)) for item in value)
        elif value is not None:
            pairs.append((str(key), _text(value)))
    return pairs


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _quoted(value):
    """A form-data parameter value, quotes and line breaks escaped as browsers (and urllib3) do."""
    return value.translate(_ESCAPES)


def _multipart(files, data):
    """The body and content type of a ``files=`` upload, as requests encodes it: the fields of
    ``data`` first, then each file. A file is a file object, bytes or str, or a tuple
    ``(filename, content[, content_type[, headers]])``."""
    boundary = _os.urandom(16).hex()
    parts = []
    if isinstance(data, (str, bytes)):
        raise TypeError("with files=, data= takes a dict or a list of (name, value) pairs")
    for name, value in _pairs(data):
        parts.append((name, None, value.encode(), None, None))
    for name, value in files.items() if isinstance(files, dict) else files:
        filename, content_type, extra = None, None, None
        if isinstance(value, (tuple, list)):
            if not 2 <= len(value) <= 4:
                raise ValueError(
                    "a files= entry is a file, or (filename, file[, content_type[, headers]])"
                )
            entry = tuple(value) + (None, None)
            filename, value, content_type, extra = entry[:4]
        else:
            filename = _os.path.basename(getattr(value, "name", "") or "") or name
        if isinstance(value, str):
            content = value.encode()
        elif isinstance(value, (bytes, bytearray, memoryview)):
            content = bytes(value)
        elif hasattr(value, "read"):
            content = value.read()
            content = content.encode() if isinstance(content, str) else bytes(content)
        else:
            raise TypeError(
                f"files= entry {name!r} is {type(value).__name__}; give a file object, bytes or str"
            )
        parts.append((str(name), filename, content, content_type, extra))
    body = bytearray()
    for name, filename, content, content_type, extra in parts:
        body += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{_quoted(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quoted(_text(filename))}"'
        body += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type:
            body += f"Content-Type: {content_type}\r\n".encode()
        for key, value in (extra or {}).items():
            body += f"{key}: {value}\r\n".encode()
        body += b"\r\n" + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


# An HTTP method is a token (RFC 9110).
_METHOD = _re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class HttpSession:
    """The user's HTTP client: ``get``, ``post``, ``put``, ``patch``, ``delete``, ``head``,
    ``options`` and ``request``, with Locust's arguments."""

    def __init__(self, base_url=None, **_kwargs):
        self.base_url = base_url
        self.headers = {}
        self.auth = None
        self.trust_env = False
        self.verify = True
        self.request_name = None

    @_contextlib.contextmanager
    def rename_request(self, name):
        """Group every request made inside the ``with`` block under ``name``."""
        self.request_name = name
        try:
            yield
        finally:
            self.request_name = None

    def request(
        self,
        method,
        url,
        name=None,
        catch_response=False,
        params=None,
        data=None,
        json=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=True,
        cookies=None,
        files=None,
        **kwargs,
    ):
        """Send one request and return its ``Response`` (or, with ``catch_response=True``, a
        ``ResponseContextManager`` to use in a ``with`` block)."""
        for key in kwargs:
            if key not in ("verify", "stream", "cert", "proxies", "hooks"):
                raise TypeError(f"request() got an unexpected keyword argument '{key}'")
        if not _METHOD.fullmatch(method or ""):
            # As requests and geventhttpclient: the task stops here, nothing is sent.
            raise ValueError(f"invalid HTTP method {method!r}")
        if name is None:
            name = self.request_name
        header_list = []
        if self.headers:
            header_list.extend((str(k), _text(v)) for k, v in self.headers.items())
        if headers:
            header_list.extend((str(k), _text(v)) for k, v in headers.items())
        if cookies:
            header_list.append(("cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
        body = None
        if files:
            body, kind = _multipart(files, data)
            if not any(k.lower() == "content-type" for k, _ in header_list):
                header_list.append(("content-type", kind))
        elif data is not None:
            if isinstance(data, (dict, list, tuple)):
                body = _urlencode(_pairs(data)).encode()
                if not any(k.lower() == "content-type" for k, _ in header_list):
                    header_list.append(_FORM)
            elif isinstance(data, str):
                body = data.encode()
            elif isinstance(data, (bytes, bytearray, memoryview)):
                body = bytes(data)
            else:
                body = b"".join(data)
        document = None
        if json is not None and body is None:
            document = _json.dumps(json)
        auth = auth or self.auth
        if auth is not None:
            auth = (_text(auth[0]), _text(auth[1]))
        if isinstance(timeout, tuple):
            timeout = sum(part for part in timeout if part is not None) or None
        raw = _http.send(
            _http.Request(
                method.upper(),
                url,
                header_list,
                _pairs(params),
                body,
                document,
                auth,
                None if timeout is None else float(timeout),
                bool(allow_redirects),
                name,
                bool(catch_response),
                None,
            )
        )
        if catch_response:
            return ResponseContextManager(raw)
        return Response(raw)

    def get(self, url, **kwargs):
        """Send a GET request."""
        return self.request("GET", url, **kwargs)

    def post(self, url, data=None, json=None, **kwargs):
        """Send a POST request."""
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url, data=None, **kwargs):
        """Send a PUT request."""
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url, data=None, **kwargs):
        """Send a PATCH request."""
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url, **kwargs):
        """Send a DELETE request."""
        return self.request("DELETE", url, **kwargs)

    def head(self, url, **kwargs):
        """Send a HEAD request (redirects are not followed unless asked)."""
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def options(self, url, **kwargs):
        """Send an OPTIONS request."""
        return self.request("OPTIONS", url, **kwargs)

    def close(self):
        """Kept for compatibility: the host owns the connections."""
