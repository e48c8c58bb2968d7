"""Gives a chunked request body a real Content-Length, so Django's body limit counts its bytes.

Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE against CONTENT_LENGTH and reads at most that many
bytes. A chunked request has no Content-Length: gunicorn dechunks it into wsgi.input, but Django
would see a length of 0 and read nothing. This WSGI wrapper reads such a body up to one byte past
the limit and hands Django that buffer with its true length; when the body was longer, the
length it reports is over the limit, so the view's first touch of the body raises Django's own
RequestDataTooBig (a 413 in the contract's shape, timed by the metrics middleware). Memory per
request stays bounded by the limit. A request with a Content-Length needs nothing: HTTP framing
gives the app exactly that many bytes, and Django refuses a length over the limit unread.

One gap in that framing: when the client ends its side of the connection before sending all
Content-Length bytes, gunicorn hands the application a short body without an error, and Django
would parse (and commit) a truncated request. `ExactLengthInput` turns that short read into
Django's UnreadablePostError, so an incomplete body is never processed (a 499 in the metrics).

`AsgiBodyLimit` applies the same rules to the async variant under uvicorn, where Django's
ASGIHandler would otherwise read every body to its end (a declared 1 GiB included) before the
limit is checked.
"""

from __future__ import annotations

import io
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import UnreadablePostError

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

_READ_SIZE = 16384


class ChunkedBodyLimit:
    def __init__(self, app: WSGIHandler, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not environ.get("CONTENT_LENGTH") and environ.get("HTTP_TRANSFER_ENCODING"):
            body = self._read_capped(environ["wsgi.input"])
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        else:
            declared = environ.get("CONTENT_LENGTH") or "0"
            if declared.isdigit() and int(declared) > 0:
                environ["wsgi.input"] = ExactLengthInput(environ["wsgi.input"], int(declared))
        return self.app(environ, start_response)

    def _read_capped(self, stream: Any) -> bytes:
        """The body's bytes, stopping once one byte more than the limit has been read."""
        cap = self.max_body_bytes + 1
        parts: list[bytes] = []
        size = 0
        while size < cap:
            chunk = stream.read(min(_READ_SIZE, cap - size))
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)


class ExactLengthInput:
    """wsgi.input that raises instead of returning fewer bytes than Content-Length promised.

    gunicorn's body reader loops until it has `size` bytes or the peer's end of stream, so a
    short read means the client stopped sending mid-body.
    """

    def __init__(self, stream: Any, content_length: int) -> None:
        self._stream = stream
        self._remaining = content_length

    def read(self, size: int = -1) -> bytes:
        wanted = self._remaining if size is None or size < 0 else min(size, self._remaining)
        data: bytes = self._stream.read(wanted)
        self._remaining -= len(data)
        if len(data) < wanted:
            raise UnreadablePostError(
                f"the client closed its side {self._remaining} bytes short of Content-Length"
            )
        return data

    def readline(self, size: int = -1) -> bytes:
        line: bytes = self._stream.readline(size)
        self._remaining -= len(line)
        return line

    def __iter__(self) -> Any:
        return iter(self._stream)


class AsgiBodyLimit:
    """Reads each body before Django does, at most one byte past the limit.

    - Content-Length over the limit: nothing is read; Django sees the length and raises
      RequestDataTooBig (413), answered with `Connection: close` so uvicorn closes instead of
      reading the rest.
    - Chunked: read until the end or one byte past the limit; Django gets the bytes with their
      real Content-Length (over the limit: the 413 above, also closing).
    - The client goes away before its body is complete: nothing is processed, and the request
      is recorded as 499 (what the WSGI side's ExactLengthInput gives).
    """

    def __init__(self, app: AsgiApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        declared = _content_length(scope["headers"])
        body = b""
        if declared is None or declared <= self.max_body_bytes:
            cap = self.max_body_bytes + 1 if declared is None else declared
            read = await _read_up_to(receive, cap)
            if read is None:
                _observe_unfinished_body(scope, time.perf_counter() - start)
                return
            body = read
            if declared is None:
                length = (b"content-length", str(len(body)).encode())
                scope = {**scope, "headers": [*scope["headers"], length]}
        too_large = len(body) > self.max_body_bytes or (declared or 0) > self.max_body_bytes
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            while True:  # after the body, Django only listens for the disconnect
                message = await receive()
                if message["type"] != "http.request":  # unread body bytes are dropped
                    return message

        async def closing_send(message: Message) -> None:
            if too_large and message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"connection", b"close")]}
            await send(message)

        await self.app(scope, replay, closing_send)


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None  # uvicorn refuses anything else
    return None


async def _read_up_to(receive: Receive, cap: int) -> bytes | None:
    """The body's bytes until its end or `cap` bytes; None when the client disconnected first."""
    parts: list[bytes] = []
    size = 0
    while size < cap:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        parts.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _observe_unfinished_body(scope: MutableMapping[str, Any], elapsed_s: float) -> None:
    if settings.METRICS_ENABLED:
        from fwcap_django.metrics import observe_unfinished_body

        observe_unfinished_body(scope["method"], scope["path"], elapsed_s)
