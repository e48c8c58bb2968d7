"""uvicorn's httptools protocol with the request-read limits uvicorn itself does not have.

uvicorn (with httptools) accepts a request head of any size (a single 64 MiB header grew a
worker by 64 MB while it was held: an easy OOM kill of a 512Mi pod), any number of header
fields, and it never times out a request that is still arriving. These are the limits gunicorn
and nginx apply, the same for both services (services/CONTRACT.md, "Request limits"):

- request line (URL) at most MAX_URL_BYTES, else `414`;
- at most MAX_HEADER_FIELDS header fields of at most MAX_FIELD_BYTES each, and the whole head
  at most MAX_HEAD_BYTES, else `431` (counted as bytes arrive, so memory stays bounded);
- the request (head and body) must arrive within REQUEST_READ_TIMEOUT_S of its first byte or
  of the connection's opening: an incomplete head gets `408`, an incomplete body closes the
  connection (the application sees the disconnect and nothing is processed).

And three connection-handling gaps of uvicorn's httptools protocol (services/CONTRACT.md,
"Connections"):

- a client that half-closes (`shutdown(SHUT_WR)`) after a complete request is answered, then
  the connection closes; uvicorn closed it at the EOF and the answer was lost;
- a client reset while pipelined requests are queued disconnects each of them, not only the
  last one parsed; the running one used to write to the closed transport and log an ERROR
  traceback ("unable to perform operation on <TCPTransport closed=True>");
- at shutdown an idle keep-alive connection stays open for STOP_KEEPALIVE_LINGER_S and a
  request arriving on it is answered with `Connection: close`, as gunicorn's gthread worker
  does; uvicorn closed it at once, racing a client that was already sending.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

REQUEST_READ_TIMEOUT_S = 10.0
MAX_URL_BYTES = 8190  # gunicorn's limit_request_line maximum
MAX_HEADER_FIELDS = 100  # gunicorn's limit_request_fields
MAX_FIELD_BYTES = 8190  # gunicorn's limit_request_field_size
MAX_HEAD_BYTES = 32768  # nginx's default large_client_header_buffers, 4 x 8k
STOP_KEEPALIVE_LINGER_S = 2.0  # gunicorn's STOP_KEEPALIVE_LINGER


class _Refused(Exception):
    """Raised from a parser callback; httptools turns it into an HttpParserCallbackError."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._reading_head = True
        self._head_bytes = 0
        self._header_fields = 0
        self._head_completed = False
        self._refusal_status: int | None = None
        self._running: RequestResponseCycle | None = None  # the cycle whose app task runs
        self._stopping = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        # uvicorn marks only the last parsed request disconnected; the running one and any
        # queued behind it must stop writing too.
        for cycle, _ in self.pipeline:
            cycle.disconnected = True
        if self._running is not None and not self._running.response_complete:
            self._running.disconnected = True
            self._running.message_event.set()
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """The client half-closed: answer what it sent in full, then close."""
        if self.cycle is None or self.cycle.response_complete or self.cycle.more_body:
            return None  # idle, or a body cut short: close (the app sees the disconnect)
        self.cycle.keep_alive = False  # the last request's answer closes the connection
        return True  # keep our side open for the answers

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            # Idle: a request may already be on its way; answer it (with Connection: close)
            # for a moment rather than close under the client.
            self._stopping = True
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                min(STOP_KEEPALIVE_LINGER_S, self.timeout_keep_alive),
                self.timeout_keep_alive_handler,
            )
        else:
            super().shutdown()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        self._running = cycle
        super()._start_asgi_task(cycle, app)

    def data_received(self, data: bytes) -> None:
        self._head_completed = False
        super().data_received(data)
        # Counted only when no head and no message ended within this read, so body bytes are
        # never taken for head bytes; a head can thus overshoot by one read (<= 256 KiB).
        if self._reading_head and not self._head_completed:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431)

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error with 400; a limit of ours has its own status.
        if self._refusal_status is not None:
            self._refuse(self._refusal_status)
        else:
            super().send_400_response(msg)

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._header_fields = 0
        if self._read_timer is None:
            self._arm_read_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._refusal_status = 414
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_fields += 1
        if self._header_fields > MAX_HEADER_FIELDS or len(name) + len(value) > MAX_FIELD_BYTES:
            self._refusal_status = 431
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_completed = True
        self._head_bytes = 0
        super().on_headers_complete()
        if self._stopping:
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        self._cancel_read_timer()
        self._reading_head = True  # what arrives next is the next request's head
        self._head_completed = True  # this read held the end of a message, not only a head
        super().on_message_complete()

    # The read deadline
    def _arm_read_timer(self) -> None:
        self._read_timer = self.loop.call_later(REQUEST_READ_TIMEOUT_S, self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self._reading_head:
            self._refuse(408)
        elif self.cycle is not None and not self.cycle.response_started:
            # The body is still incomplete and nothing has been answered: drop the connection;
            # the application's receive() reports the disconnect.
            self.transport.close()

    def _refuse(self, status: int) -> None:
        self._cancel_read_timer()
        if not self.transport.is_closing():
            self.transport.write(
                STATUS_LINE[status] + b"content-length: 0\r\nconnection: close\r\n\r\n"
            )
            self.transport.close()
