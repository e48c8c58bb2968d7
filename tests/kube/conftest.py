"""Fixtures: the fake API server with the objects `pulumi up` would have created, and a client.

A real loopback HTTP server stands in for each pod port that is port-forwarded to, so bytes
cross the real WebSocket tunnel and come back from a real socket.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from capacity.target.cluster.kubeapi import KubeAccess, load_kube
from tests.kube.fake_api import FakeKube, deployment, hpa, pod, service

NS = "fwcap"


def labels(component: str, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/component": component, "app.kubernetes.io/name": name}


class PromStandIn:
    """A loopback HTTP server answering /api/v1/query like Prometheus, counting queries."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.queries.append(self.path)
                body = json.dumps(
                    {
                        "status": "success",
                        "data": {
                            "resultType": "vector",
                            "result": [
                                {"metric": {"app": "django"}, "value": [1_700_000_000.0, "123.5"]}
                            ],
                        },
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
    s = PromStandIn()
    kube.backends[("prometheus-0", 9090)] = s.address
    yield s
    s.close()
