"""The limit queries (kube-state-metrics' kube_pod_container_resource_limits) answer in local mode:
the pod exporter publishes the series for a pod's cgroup, a real Prometheus scrapes it with the
kit's local config, and POD_CPU_LIMIT_CORES / POD_MEMORY_LIMIT return the pod's limits."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from capacity.metrics.prometheus_config import render_prometheus_config
from capacity.metrics.queries import POD_CPU_LIMIT_CORES, POD_MEMORY_LIMIT, Scope
from capacity.target.pod_exporter import ExportedContainer, start_pod_exporter
from capacity.target.process import free_port
from tests.local.test_pod_exporter import MIB, _fake_pod

pytestmark = [
    pytest.mark.live,  # a real Prometheus
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="Prometheus is not installed (Debian/Ubuntu: apt-get install prometheus)",
    ),
]


def _query(url: str, expr: str) -> list[dict[str, object]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def test_limit_queries_return_the_local_pods_limits(tmp_path: Path) -> None:
    (tmp_path / "cgroup").mkdir()
    pod = _fake_pod(tmp_path / "cgroup")
    exporter = start_pod_exporter(
        [ExportedContainer("local", "django-0", "django", pod)], port=free_port()
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_prometheus_config(
            mode="local", scrape_interval_s=2, pod_exporter_address=exporter.address
        )
    )
    port = free_port()
    server = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    scope = Scope.concrete(namespace="local", framework="django")
    try:
        deadline = time.monotonic() + 60
        cpu: list[dict[str, object]] = []
        while time.monotonic() < deadline and not cpu:
            time.sleep(1)
            try:
                cpu = _query(url, POD_CPU_LIMIT_CORES.render(scope))
            except httpx.HTTPError:
                continue
        memory = _query(url, POD_MEMORY_LIMIT.render(scope))
        # Another framework's scope selects nothing: the query does not just return any series.
        other = _query(
            url, POD_CPU_LIMIT_CORES.render(Scope.concrete(namespace="local", framework="fastapi"))
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        exporter.stop()
    assert [(r["metric"], float(r["value"][1])) for r in cpu] == [({"pod": "django-0"}, 0.5)]  # type: ignore[index]
    assert [float(r["value"][1]) for r in memory] == [512 * MIB]  # type: ignore[index]
    assert other == []
