"""Fixtures: the fake API server with the objects `pulumi up` would have created, and a client.

A real loopback HTTP server stands in for each pod port that is port-forwarded to, so bytes
cross the real WebSocket tunnel and come back from a real socket.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from capacity.target.k8s.kubeapi import KubeAccess, load_kube
from tests.kube.fake_api import SHUTDOWN_POLL_S, FakeKube, deployment, hpa, pod, service

NS = "fwcap"


def labels(component: str, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/component": component, "app.kubernetes.io/name": name}


class StandIn:
    """A loopback HTTP server answering JSON by path (a pod's port behind a port-forward).

    By default it answers /api/v1/query like Prometheus; tests add routes such as
    /api/v1/targets or Locust's /stats/requests. Every request path is recorded.
    """

    def __init__(self, routes: dict[str, Callable[[], Any]] | None = None) -> None:
        self.queries: list[str] = []
        vector = {"metric": {"app": "django"}, "value": [1_700_000_000.0, "123.5"]}
        self.routes: dict[str, Callable[[], Any]] = {
            "/api/v1/query": lambda: {
                "status": "success",
                "data": {"resultType": "vector", "result": [vector]},
            },
            **(routes or {}),
        }
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall (fake_api.py)

            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.queries.append(self.path)
                route = outer.routes.get(urlsplit(self.path).path)
                body = json.dumps(route() if route else {"error": "no route"}).encode()
                self.send_response(200 if route else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                self.do_GET()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S}, daemon=True
        )
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


PromStandIn = StandIn


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with FakeKube() as k:
        for fw in ("django", "fastapi"):
            k.add(deployment(fw, NS, labels("service", fw), replicas=3))
        k.add(hpa("django", NS, "django", min_replicas=2, max_replicas=6))
        k.add(deployment("locust-worker", NS, labels("locust-worker", "locust-worker"), 2))
        k.add(service("prometheus", NS, labels("prometheus", "prometheus"), 9090))
        k.add(pod("prometheus-0", NS, labels("prometheus", "prometheus"), node="node-b"))
        yield k


@pytest.fixture
def kubeconfig(kube: FakeKube, tmp_path: Path) -> Path:
    return kube.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def access(kubeconfig: Path) -> KubeAccess:
    return load_kube(kubeconfig, None)


@pytest.fixture
def prom_standin(kube: FakeKube) -> Iterator[PromStandIn]:
    s = StandIn()
    kube.backends[("prometheus-0", 9090)] = s.address
    yield s
    s.close()
