"""A real Locust master + one worker running the kit's locustfile, for the live load tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from capacity.load.driver import LocustMaster
from capacity.target.local import locust_commands
from capacity.target.process import ProcessGroup, free_port, wait_http_ok


@contextlib.contextmanager
def running_master(logs: Path) -> Iterator[LocustMaster]:
    """Start the master and its worker (logs in `logs`), yield the master's API once the worker
    is connected; both stop on the way out, also on failure."""
    web_port = free_port()
    master_argv, worker_argv = locust_commands(web_port, free_port())
    with ProcessGroup(logs) as group:
        process = group.start("locust-master", master_argv)
        group.start("locust-worker-0", worker_argv)
        url = f"http://127.0.0.1:{web_port}"
        wait_http_ok(url + "/stats/requests", process, timeout_s=60)
        api = LocustMaster(url)
        try:
            api.wait_ready(1, timeout_s=60)
            yield api
        finally:
            api.close()


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 serving `handler`: a live load test's stand-in."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()  # shutdown() returns within 0.02 s, not serve_forever's default 0.5 s

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
