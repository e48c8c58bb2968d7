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
  connection's opening (else `408` and close; a head whose body is late is closed unanswered and
  counted as 499, as uvicorn's side does);
- the head (request line + headers) at most MAX_HEAD_BYTES (else `431` and close);
- gunicorn's own limits then apply to what was buffered (request line, field count and size).

A body declared over the limit is not buffered: the application refuses it unread (413), and
the connection closes after that answer.

Every request on a connection goes through the buffer, not only the first: what a client
pipelined behind a request (gunicorn's read-ahead) comes back here after the answer, and reaches
a thread only once it is complete. A held connection costs a buffer, never a thread.
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

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Connection: close\r\nContent-Length: 0\r\n\r\n"
)
_BODY_TOO_LARGE = (
    b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)


# What the buffered bytes allow (request_state):
INCOMPLETE = "incomplete"  # wait for more
COMPLETE = "complete"  # the whole first request is buffered: a thread will not wait on the client
UNREAD_BODY = "unread_body"  # answerable without the rest of its body, which stays unread: close
HEAD_TOO_LARGE = "head_too_large"
BODY_TOO_LARGE = "body_too_large"  # chunk framing alone past _MAX_CHUNKED_BYTES

# A chunked body within the limit can still carry framing (chunk extensions, tiny chunks) without
# end; the raw bytes buffered for one are capped here.
_MAX_CHUNKED_BYTES = 4 * MAX_BODY_BYTES


def request_state(
    buffered: bytes, max_head_bytes: int = MAX_HEAD_BYTES, max_body_bytes: int = MAX_BODY_BYTES
) -> str:
    """What the bytes received so far allow, for the first request among them.

    Only framing is looked at; gunicorn's parser judges everything else. Anything gunicorn
    refuses outright (a malformed length, bare-LF framing) is "unread_body": it answers at once
    from what is buffered and closes, which is all that matters here. Bytes after the first
    request (a pipelined one) are left for the next call.
    """
    end = buffered.find(b"\r\n\r\n")
    if end < 0:
        if b"\n\n" in buffered:  # bare-LF framing: gunicorn decides (it refuses it)
            return UNREAD_BODY
        return HEAD_TOO_LARGE if len(buffered) > max_head_bytes else INCOMPLETE
    if end > max_head_bytes:
        return HEAD_TOO_LARGE
    body = buffered[end + 4 :]
    content_length: int | None = None
    for line in buffered[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            return chunked_state(body, max_body_bytes)
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                return UNREAD_BODY  # gunicorn refuses it
            content_length = int(value)
    if content_length is None:
        return COMPLETE
    if content_length > max_body_bytes:
        return UNREAD_BODY  # refused unread by the application
    return COMPLETE if len(body) >= content_length else INCOMPLETE


def chunked_state(body: bytes, max_body_bytes: int = MAX_BODY_BYTES) -> str:
    """request_state for a chunked body: walks the chunks to the terminating one.

    The application reads a chunked body up to one byte past the limit (body_limit.py), so
    once that many data bytes are buffered it can refuse the request without waiting.
    """
    pos = data_bytes = 0
    while True:
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            return BODY_TOO_LARGE if len(body) > _MAX_CHUNKED_BYTES else INCOMPLETE
        size_field = body[pos:line_end].partition(b";")[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            return UNREAD_BODY  # gunicorn refuses the chunk size
        if size == 0:  # the last chunk, then optional trailer fields and an empty line
            if body.find(b"\r\n\r\n", line_end) >= 0:
                return COMPLETE
            return BODY_TOO_LARGE if len(body) > _MAX_CHUNKED_BYTES else INCOMPLETE
        available = min(size, len(body) - line_end - 2)
        if data_bytes + size > max_body_bytes:
            return UNREAD_BODY if data_bytes + available > max_body_bytes else INCOMPLETE
        data_bytes += size
        pos = line_end + 2 + size + 2
        if pos > len(body):
            return BODY_TOO_LARGE if len(body) > _MAX_CHUNKED_BYTES else INCOMPLETE


def _observe_unfinished_body(head: bytes) -> None:
    from django.conf import settings  # loaded with the application, in each worker

    if not settings.METRICS_ENABLED:
        return
    from fwcap_django.metrics import observe_unfinished_body

    method, _, rest = head.partition(b"\r\n")[0].partition(b" ")
    path = rest.rpartition(b" ")[0].partition(b"?")[0]
    observe_unfinished_body(
        method.decode("latin-1"), path.decode("latin-1"), REQUEST_READ_TIMEOUT_S
    )


class BufferedThreadWorker(ThreadWorker):  # type: ignore[misc]
    # gunicorn.conf.py's pre_request leaves closing after an unread body to this worker.
    closes_after_unread_bodies = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections whose request is still arriving: conn -> (buffer, deadline).
        self._buffering: dict[TConn, tuple[bytearray, float]] = {}

    def accept(self, listener: socket.socket) -> None:
        self._accept_one(listener)

    def _accept_one(self, listener: socket.socket) -> bool:
        """Accept one connection and start buffering it; False when none was waiting."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return False
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
        self._start_buffering(conn)
        return True

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection has a new request coming: buffer it too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_buffering(conn)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        """A request was answered; what the client pipelined behind it is buffered like any other.

        gunicorn would hand that read-ahead straight to a thread, which then blocks reading the
        rest of a request that may never come.
        """
        keep_alive = not fs.cancelled() and fs.exception() is None and fs.result() is True
        if keep_alive and conn.parser.unreader.buf.getvalue():
            self._start_buffering(conn, conn.parser.unreader.take_buffered())
            return
        super().finish_request(conn, fs)

    def handle_request(self, req: Any, conn: TConn) -> Any:
        # Part of the body is still on the socket (the application refuses it unread): gunicorn
        # would drain it in this thread before reusing the connection, or close it after having
        # announced keep-alive. Closing openly costs the client one reconnect.
        if conn.fwcap_body_unread:
            req.force_close()
        return super().handle_request(req, conn)

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            # Stopping: close this worker's copy of the listening socket now, not after the
            # drain. Once every process has closed its copy, the kernel refuses new connections
            # instead of queueing them for a server that will never accept them (and resetting
            # them at exit). The arbiter closes its own copy as it starts stopping. Connections
            # the kernel completed before the close are taken first and served, not reset.
            for listener in self.sockets:
                while self.nr_conns < self.worker_connections and self._accept_one(listener):
                    pass
                listener.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        expired = [conn for conn, (_, deadline) in self._buffering.items() if deadline <= now]
        for conn in expired:
            buffered, _ = self._buffering[conn]
            head_end = buffered.find(b"\r\n\r\n")
            if head_end < 0:
                self._refuse(conn, _TIMED_OUT)
            else:
                # The head came, the body did not: close unanswered and count the client's 499,
                # as the FastAPI service does (services/CONTRACT.md, "Request limits").
                _observe_unfinished_body(bytes(buffered[:head_end]))
                self._drop(conn)

    def _start_buffering(self, conn: TConn, read_ahead: bytes = b"") -> None:
        conn.sock.setblocking(False)
        self._buffering[conn] = (bytearray(read_ahead), time.monotonic() + REQUEST_READ_TIMEOUT_S)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        if read_ahead:
            self._judge(conn, read_ahead)

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
                # What came is all there is: gunicorn answers it, and each read after it ends at
                # once, so no thread waits.
                self._dispatch(conn, body_unread=False)
            else:
                self._drop(conn)
            return
        buffered += data
        self._judge(conn, bytes(buffered))

    def _judge(self, conn: TConn, buffered: bytes) -> None:
        state = request_state(buffered)
        if state in (COMPLETE, UNREAD_BODY):
            self._dispatch(conn, body_unread=state == UNREAD_BODY)
        elif state == HEAD_TOO_LARGE:
            self._refuse(conn, _HEAD_TOO_LARGE)
        elif state == BODY_TOO_LARGE:
            self._refuse(conn, _BODY_TOO_LARGE)

    def _dispatch(self, conn: TConn, body_unread: bool) -> None:
        buffered, _ = self._buffering.pop(conn)
        self.poller.unregister(conn.sock)
        conn.init()  # builds the HTTP/1.1 parser on the (now blocking) socket, once
        conn.parser.unreader.unread(bytes(buffered))
        conn.data_ready = True
        conn.fwcap_body_unread = body_unread
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
