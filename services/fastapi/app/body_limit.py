"""A pure ASGI middleware that caps request bodies at the bytes actually received.

Starlette 1.x ships `RequestBodyLimitMiddleware`, but it answers with a plain-text 413 and
replaces any response (a 405, a 415) whenever Content-Length is over the limit, so it cannot give
the contract's JSON error or its check order. This one only acts when the application reads the
body: it raises an `HTTPException(413)` from `receive`, which the app's exception handler turns
into the contract's error body. A Content-Length over the limit fails on the first read, without
reading anything; a chunked body fails as soon as the running total passes the limit. Either way
the 413 says `Connection: close` and uvicorn closes the connection after it.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        # The rest of the body is never read: closing is the only way to stop the client sending
        # it (uvicorn would otherwise read and discard it to the end, 1 GiB if so declared).
        super().__init__(status_code=413, headers={"Connection": "close"})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server rejects these before we run
    return None
