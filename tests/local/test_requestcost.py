"""The request-cost probe against a real HTTP server on loopback whose "CPU counter" grows by a
known amount per request it serves: what it answers, and when it answers nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from capacity.target.requestcost import request_cost

COST_S = 0.0025  # what each request adds to the server's counter


class _Server:
    def __init__(self, status: int = 200) -> None:
        self.cpu_s = 10.0
        self.paths: list[str] = []
        self.connections: set[tuple[str, int]] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                outer.connections.add(self.client_address)
                outer.cpu_s += COST_S
                body = b'{"id": 1}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_the_cost_is_the_counter_growth_per_request_over_one_connection(server: _Server) -> None:
    cost = request_cost(server.url, lambda: server.cpu_s, count=12)
    assert cost == pytest.approx(COST_S)
    assert len(server.paths) == 12 and len(server.connections) == 1, "sequential, keep-alive"
    assert server.paths[:2] == ["/api/items/1", "/api/items?limit=20&offset=2"]


def test_no_figure_when_a_request_fails_or_the_counter_is_unreadable(server: _Server) -> None:
    assert request_cost(server.url, lambda: None) is None
    assert request_cost(server.url, lambda: 5.0) is None, "a counter that did not grow"
    failing = _Server(status=404)
    failing.thread.start()
    try:
        assert request_cost(failing.url, lambda: failing.cpu_s) is None
    finally:
        failing.httpd.shutdown()
        failing.httpd.server_close()
    server.httpd.shutdown()
    server.httpd.server_close()
    assert request_cost(server.url, lambda: server.cpu_s, timeout_s=0.5) is None, "refused"
    assert request_cost("https://127.0.0.1:1", lambda: 1.0) is None, "only plain HTTP is probed"
