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
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.http import UnreadablePostError

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
