"""Gives a chunked request body a real Content-Length, so Django's body limit counts its bytes.

Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE against CONTENT_LENGTH and reads at most that many
bytes. A chunked request has no Content-Length: gunicorn dechunks it into wsgi.input, but Django
would see a length of 0 and read nothing. This WSGI wrapper reads such a body up to one byte past
the limit and hands Django that buffer with its true length; when the body was longer, the
length it reports is over the limit, so the view's first touch of the body raises Django's own
RequestDataTooBig (a 413 in the contract's shape, timed by the metrics middleware). Memory per
request stays bounded by the limit. A request with a Content-Length needs nothing: HTTP framing
gives the app exactly that many bytes, and Django refuses a length over the limit unread.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler

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
