"""gunicorn's gthread worker, with each request read in full before a thread is committed to it.

Why: the stock gthread worker hands a connection to a thread as soon as its first bytes arrive,
and the thread then blocks reading the rest. With 2 workers x 4 threads, 8 clients sending their
headers slowly (slowloris), a dozen slow bodies, or a request line that never ends (a TLS
ClientHello on the plain port, CR-only line endings) leave no thread to answer anyone - the
kubelet's probes included. gunicorn's documentation answers "run it behind a buffering proxy";
in Kubernetes nothing buffers between the kubelet (or a Service's clients) and the pod.

This worker is that buffering proxy, inside the worker's own event loop, without a second
process or a second copy of each response: the main thread reads a request's head and its body
(Content-Length up to the body limit, or a chunked body up to its terminator) with non-blocking
reads, then hands the buffered bytes to gunicorn's own parser, unchanged, and only then to a
thread. What it bounds, like nginx's client_header_timeout/client_body_timeout and
large_client_header_buffers:

- a request must arrive in full within REQUEST_READ_TIMEOUT_S of its first byte, or of the
  connection's opening (else `408` and close);
- the head (request line + headers) at most MAX_HEAD_BYTES (else `431` and close);
- gunicorn's own limits then apply to what was buffered (request line, field count and size).

A body declared over the limit is not buffered: the application refuses it unread (413).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from fwcap_django.env import MAX_BODY_BYTES

REQUEST_READ_TIMEOUT_S = 10.0
# nginx's default large_client_header_buffers (4 x 8k): a head larger than this is refused.
MAX_HEAD_BYTES = 32768
_RECV_BYTES = 65536
_CHUNKED_END = b"0\r\n\r\n"

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Connection: close\r\nContent-Length: 0\r\n\r\n"
)


def request_state(buffered: bytes, max_head_bytes: int = MAX_HEAD_BYTES) -> str:
    """`"complete"`, `"incomplete"` or `"head_too_large"` for the bytes received so far.

    Only framing is looked at; gunicorn's parser judges everything else. "complete" may be said
    early (a malformed header, a body over the limit): gunicorn then answers or refuses at once
    from what is buffered, which is all that matters here - no thread waits on a slow client.
    """
    end = buffered.find(b"\r\n\r\n")
    if end < 0:
        if b"\n\n" in buffered:  # bare-LF framing: gunicorn decides (it refuses it)
            return "complete"
        return "head_too_large" if len(buffered) > max_head_bytes else "incomplete"
    if end > max_head_bytes:
        return "head_too_large"
    body_bytes = len(buffered) - end - 4
    content_length: int | None = None
    for line in buffered[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            # Enough once the terminating chunk is in, or once more than the limit has come.
            tail_done = buffered.endswith(_CHUNKED_END)
            return "complete" if tail_done or body_bytes > MAX_BODY_BYTES else "incomplete"
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                return "complete"  # gunicorn refuses it
            content_length = int(value)
    if content_length is None or content_length > MAX_BODY_BYTES:
        return "complete"  # no body, or one the application refuses unread
    return "complete" if body_bytes >= content_length else "incomplete"


class BufferedThreadWorker(ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections whose request is still arriving: conn -> (buffer, deadline).
        self._buffering: dict[TConn, tuple[bytearray, float]] = {}

    def accept(self, listener: socket.socket) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
        self._start_buffering(conn)

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection has a new request coming: buffer it too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_buffering(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        expired = [conn for conn, (_, deadline) in self._buffering.items() if deadline <= now]
        for conn in expired:
            self._refuse(conn, _TIMED_OUT)

    def _start_buffering(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        self._buffering[conn] = (bytearray(), time.monotonic() + REQUEST_READ_TIMEOUT_S)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: TConn, client: socket.socket) -> None:
        buffered, _ = self._buffering[conn]
        try:
            data = client.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not data:  # the client closed (or half-closed) its side
            if buffered:
                self._dispatch(conn)  # what came is all there is: gunicorn answers it
            else:
                self._drop(conn)
            return
        buffered += data
        state = request_state(bytes(buffered))
        if state == "complete":
            self._dispatch(conn)
        elif state == "head_too_large":
            self._refuse(conn, _HEAD_TOO_LARGE)

    def _dispatch(self, conn: TConn) -> None:
        buffered, _ = self._buffering.pop(conn)
        self.poller.unregister(conn.sock)
        conn.init()  # builds the HTTP/1.1 parser on the (now blocking) socket
        conn.parser.unreader.unread(bytes(buffered))
        conn.data_ready = True
        self.enqueue_req(conn)

    def _refuse(self, conn: TConn, response: bytes) -> None:
        # The client may be gone or its window full: closing is all that is left then.
        with contextlib.suppress(OSError):
            conn.sock.send(response)
        self._drop(conn)

    def _drop(self, conn: TConn) -> None:
        self._buffering.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()
