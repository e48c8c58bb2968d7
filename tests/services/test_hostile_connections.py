"""Held, pipelined and half-closed connections (issue 27), against both services.

A request complete in the first read, followed by the start of another one and then silence,
used to hand Django's remainder to a blocking gunicorn thread with no deadline: 96 such
connections took the whole service down, /healthz included, for as long as they were held.
Each hold below must leave a fresh connection's /healthz answered within 1 s; the connection
must still run everything it sent in full, in order; and a client's half-close, an early 413
and a reset must each end the way services/CONTRACT.md ("Connections") says.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.services.live_support import metrics_when, request_count

pytestmark = pytest.mark.live

HELD = 96
PROBE_DEADLINE_S = 1.0
HOLD_S = 3.0

_GET = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
_POST_HEAD = b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
# What each held connection sends in one write, then holds: a complete request, and the start
# of another (or a body framed so that a naive "ends in 0\r\n\r\n" check takes it as complete).
HELD_WRITES = {
    "pipelined partial head": _GET + b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
    "pipelined partial body": _GET + _POST_HEAD + b"Content-Length: 100\r\n\r\n{",
    "chunk ending like the last chunk": _POST_HEAD
    + b'Transfer-Encoding: chunked\r\n\r\n10\r\n{"a": 0\r\n\r\n',
    "huge chunk size": _POST_HEAD
    + b'Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n{"a": 0\r\n\r\n',
}


def _host_port(service: Any) -> tuple[str, int]:
    host, port = service.base_url.removeprefix("http://").split(":")
    return host, int(port)


@contextmanager
def held(service: Any, write: bytes, n: int = HELD) -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for _ in range(n):
            sock = socket.create_connection(_host_port(service), timeout=5)
            socks.append(sock)
            sock.sendall(write)
        yield socks
    finally:
        for sock in socks:
            sock.close()


class _SharedReader:
    """Lets http.client parse several responses from one socket's buffered reader."""

    def __init__(self, sock: socket.socket) -> None:
        self._file = sock.makefile("rb")

    def makefile(self, *_args: Any, **_kwargs: Any) -> Any:
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def close(self) -> None:  # each HTTPResponse closes its file; the next one still reads it
        pass


def read_responses(sock: socket.socket, n: int) -> list[tuple[int, dict[str, str], bytes]]:
    reader = _SharedReader(sock)
    answers = []
    for _ in range(n):
        response = http.client.HTTPResponse(reader)  # type: ignore[arg-type]
        response.begin()
        answers.append(
            (response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        )
    return answers


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    sock.settimeout(within_s)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


@pytest.mark.parametrize("write", HELD_WRITES.values(), ids=HELD_WRITES.keys())
def test_liveness_is_answered_within_1s_while_96_connections_hold_a_second_request(
    service: Any, write: bytes
) -> None:
    latencies_s: list[float] = []
    with held(service, write):
        time.sleep(0.5)  # the servers have read every held write
        deadline = time.monotonic() + HOLD_S
        while time.monotonic() < deadline or len(latencies_s) < 5:
            start = time.perf_counter()
            try:
                status = httpx.get(
                    service.url("/healthz"), headers={"Connection": "close"}, timeout=3
                ).status_code
            except httpx.TimeoutException:
                status = 0
            latencies_s.append(time.perf_counter() - start)
            assert status == 200, f"/healthz {status or 'timed out'} after {latencies_s}"
            time.sleep(0.1)
    assert max(latencies_s) < PROBE_DEADLINE_S, sorted(latencies_s)[-5:]


def test_a_chunked_post_and_the_request_pipelined_behind_it_both_run(
    service: Any, live_services: Any
) -> None:
    name = f"chunked-{uuid.uuid4().hex[:12]}"
    body = json.dumps({"name": name, "price": "1.00", "category": "category-01"}).encode()
    write = (
        _POST_HEAD
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        + b"GET /api/items/1 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with socket.create_connection(_host_port(service), timeout=8) as sock:
        sock.sendall(write)
        (created, _, _), (read, _, item) = read_responses(sock, 2)
    assert (created, read) == (201, 200)
    assert json.loads(item)["id"] == 1
    rows = live_services.postgres.psql(
        f"SELECT count(*) FROM items WHERE name = '{name}'", service.database
    )
    assert rows.strip() == "1"


def test_a_request_followed_by_the_clients_half_close_is_answered(service: Any) -> None:
    with socket.create_connection(_host_port(service), timeout=8) as sock:
        sock.sendall(_GET + b"GET /api/items/2 HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        (health, _, _), (item, _, body) = read_responses(sock, 2)
        assert (health, item) == (200, 200)
        assert json.loads(body)["id"] == 2
        assert _closed_by_server(sock, within_s=5), "still open after answering a half-close"


def test_a_half_closed_post_is_answered_with_its_201(service: Any) -> None:
    body = json.dumps({"name": f"half-{uuid.uuid4().hex[:12]}", "price": "1.00",
                       "category": "category-01"}).encode()  # fmt: skip
    with socket.create_connection(_host_port(service), timeout=8) as sock:
        sock.sendall(_POST_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        sock.shutdown(socket.SHUT_WR)
        [(status, _, answer)] = read_responses(sock, 1)
    assert status == 201, answer


def test_an_early_413_closes_the_connection(service: Any) -> None:
    """Content-Length: 1 GiB: refused unread, `Connection: close`, and the server closes."""
    with socket.create_connection(_host_port(service), timeout=8) as sock:
        sock.sendall(_POST_HEAD + b"Content-Length: 1073741824\r\n\r\n" + b" " * 65536)
        [(status, headers, _)] = read_responses(sock, 1)
        assert status == 413
        assert headers.get("connection", "").lower() == "close"
        sent = 0
        sock.settimeout(0.5)
        started = time.monotonic()
        with contextlib.suppress(OSError):  # reset or broken pipe: closed, as required
            while time.monotonic() - started < 5:
                sent += sock.send(b" " * 65536)
        assert time.monotonic() - started < 5, f"still accepting the body: {sent} bytes more"


def test_a_reset_after_pipelined_reads_logs_no_error(service: Any) -> None:
    log_path = service.handle.process.log_path
    log_size = log_path.stat().st_size
    for _ in range(5):
        sock = socket.create_connection(_host_port(service), timeout=5)
        sock.sendall(b"GET /api/upstream?delay_ms=50 HTTP/1.1\r\nHost: x\r\n\r\n" * 10)
        time.sleep(0.08)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, with answers still to write
    time.sleep(1.0)
    assert httpx.get(service.url("/healthz")).status_code == 200
    with log_path.open("rb") as log:
        log.seek(log_size)
        written = log.read().decode(errors="replace")
    assert "Traceback" not in written and "ERROR" not in written, written[-3000:]


def test_a_body_that_misses_the_read_deadline_is_closed_unanswered_and_counted_499(
    service: Any,
) -> None:
    route = {"http_route": "/api/items", "http_request_method": "POST"}
    before = httpx.get(service.url("/metrics"), timeout=30).text
    with socket.create_connection(_host_port(service), timeout=20) as sock:
        sock.sendall(_POST_HEAD + b"Content-Length: 100\r\n\r\n{")
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    assert received == b"", f"answered {received[:40]!r}; the contract says close only"

    def cut(text: str) -> float:
        return request_count(text, **route, http_response_status_code="499") - request_count(
            before, **route, http_response_status_code="499"
        )

    after = metrics_when(service.base_url, lambda t: cut(t) >= 1, "the late body as 499")
    assert cut(after) == 1
