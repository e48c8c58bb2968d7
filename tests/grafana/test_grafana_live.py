"""Acceptance 1: every panel query of the committed dashboards, with its variables substituted,
returns data from a real Prometheus scraping both local services under real load.

One LocalTarget (PostgreSQL, both services in cgroups, the pod exporter, Prometheus scraping
every second, a Locust master + worker) serves the whole module. Load comes from a short bounded
httpx loop over every /api route of both services, plus a small Locust swarm so the load
generator's own gauges (offered rps, step) and CPU series exist.
"""

from __future__ import annotations

import contextlib
import math
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from capacity.load.driver import LocustMaster
from capacity.target.base import Endpoints, PodShape
from tests.grafana.grafana_testlib import (
    CONCRETE_VARIABLES,
    FWCAP_DASHBOARDS,
    PanelTarget,
    load_dashboards,
    matching_queries,
    panel_targets,
    provisioned_dashboards,
    substitute,
)
from tests.scrapes import wait_for_scrapes_after

pytestmark = [pytest.mark.live, pytest.mark.timeout(240)]

FRAMEWORKS = ("django", "fastapi")
LOAD_S = 20.0  # > the 15 s rate window, so every rate() has two scrapes inside it
SWARM_USER_RPS = 2.0
SWARM_USERS = 2
SHAPE = PodShape(cpu_millicores=500, memory_bytes=512 * 2**20)
TARGETS = panel_targets(load_dashboards())


@dataclass(frozen=True)
class LiveRun:
    endpoints: Endpoints
    start_s: float
    end_s: float


def _requests(base: str, rng: random.Random) -> Iterator[tuple[str, str, dict[str, object] | None]]:
    while True:
        yield "GET", f"{base}/api/items/{rng.randint(1, 10_000)}", None
        yield "GET", f"{base}/api/items?limit=5&offset={rng.randint(0, 1000)}", None
        yield "GET", f"{base}/api/stats", None
        yield "GET", f"{base}/api/upstream?delay_ms=1", None
        yield "GET", f"{base}/api/cpu?n=200", None
        body: dict[str, object] = {
            "name": f"grafana-{rng.getrandbits(32):08x}",
            "price": "1.50",
            "category": "category-01",
        }
        yield "POST", f"{base}/api/items", body


def drive_load(service_urls: dict[str, list[str]], seconds: float) -> dict[str, int]:
    """Round-robin over every pod and route for `seconds`; returns 2xx counts per framework."""
    rng = random.Random(6)
    streams = [(fw, _requests(url, rng)) for fw in FRAMEWORKS for url in service_urls[fw]]
    ok = dict.fromkeys(FRAMEWORKS, 0)
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=10.0) as client:
        while time.monotonic() < deadline:
            for fw, stream in streams:
                method, url, body = next(stream)
                r = client.request(method, url, json=body)
                ok[fw] += r.is_success
    return ok


def start_swarm(master: LocustMaster, endpoints: Endpoints, framework: str) -> None:
    master.swarm(
        scenario="mixed",
        users=SWARM_USERS,
        spawn_rate=SWARM_USERS,
        host=",".join(endpoints.service_urls[framework]),
        options={
            "fwcap_framework": framework,
            "fwcap_scenario": "mixed",
            "fwcap_step": 1,
            "fwcap_offered_rps": SWARM_USERS * SWARM_USER_RPS,
        },
    )


@pytest.fixture(scope="module")
def live() -> Iterator[LiveRun]:
    from capacity.target.local import LocalTarget

    # Not under pytest's basetemp, which another pytest's start re-chmods to 0700 (PostgreSQL runs
    # as its own user when we are root; tests/conftest.py `run_dir`).
    workdir = Path(tempfile.mkdtemp(prefix="fwcap-grafana-live-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)  # after the target stopped
        endpoints = cleanup.enter_context(
            LocalTarget(FRAMEWORKS, 1, SHAPE, workdir, scrape_interval_s=1, locust_workers=1)
        )
        assert endpoints.namespace == CONCRETE_VARIABLES["namespace"]
        master = LocustMaster(endpoints.locust_url)
        start = time.time()
        start_swarm(master, endpoints, "django")
        try:
            ok = drive_load(endpoints.service_urls, LOAD_S)
            assert all(ok.values()), f"no successful requests: {ok}"
            # The last scrapes: every target scraped once more after the load (not a fixed 3 s,
            # which a busy machine's late or slow scrape can outlast).
            wait_for_scrapes_after(endpoints.prometheus_url, time.time())
            yield LiveRun(endpoints, start, time.time())
        finally:
            master.stop()
            master.close()


def _query_range(run: LiveRun, expr: str) -> list[dict[str, object]]:
    r = httpx.get(
        f"{run.endpoints.prometheus_url}/api/v1/query_range",
        params={"query": expr, "start": run.start_s, "end": run.end_s, "step": "1s"},
        timeout=30.0,
    )
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", f"{expr}\n{r.text}"
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def _with_data(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in series if any(not math.isnan(float(v)) for _, v in s["values"])]


@pytest.mark.parametrize("target", TARGETS, ids=[t.label for t in TARGETS])
def test_panel_query_returns_data_from_a_live_run(live: LiveRun, target: PanelTarget) -> None:
    expr = substitute(target.expr)
    with_data = _with_data(_query_range(live, expr))
    assert with_data, f"{target.label}: no series with data for\n{expr}"
    # A per-framework panel must show both frameworks, not just one of them.
    for label in ("app", "container"):
        if any(label in s["metric"] for s in with_data):
            assert {s["metric"][label] for s in with_data} == set(FRAMEWORKS), target.label


def _values_of(live: LiveRun, query_name: str) -> dict[str, list[float]]:
    """Every value each series of the panels showing `query_name` took, keyed by its labels."""
    exprs = {t.expr for t in TARGETS if matching_queries(t.expr) == [query_name]}
    assert exprs, f"no panel shows {query_name}"
    values: dict[str, list[float]] = {}
    for expr in exprs:
        for s in _with_data(_query_range(live, substitute(expr))):
            key = ",".join(f"{k}={v}" for k, v in sorted(s["metric"].items()))
            values.setdefault(key, []).extend(float(v) for _, v in s["values"])
    return values


def test_reference_lines_and_gauges_show_the_values_the_run_was_given(live: LiveRun) -> None:
    offered = _values_of(live, "offered_rps")
    assert list(offered) == ["framework=django"]
    assert max(offered["framework=django"]) == SWARM_USERS * SWARM_USER_RPS
    assert max(_values_of(live, "loadgen_step")["framework=django,scenario=mixed"]) == 1
    assert {v for vs in _values_of(live, "slo_latency").values() for v in vs} == {0.1}
    pods = {f"pod={p.name}" for p in live.endpoints.pods}
    cpu_limits = _values_of(live, "pod_cpu_limit_cores")
    assert set(cpu_limits) == pods
    assert {v for vs in cpu_limits.values() for v in vs} == {SHAPE.cpu_millicores / 1000}
    memory_limits = _values_of(live, "pod_memory_limit_bytes")
    assert set(memory_limits) == pods
    assert {v for vs in memory_limits.values() for v in vs} == {SHAPE.memory_bytes}
    generator = _values_of(live, "generator_cpu_cores")
    assert set(generator) == {"pod=locust-master", "pod=locust-worker-0"}
    assert max(generator["pod=locust-worker-0"]) > 0


def test_variable_queries_list_the_live_values(live: LiveRun) -> None:
    def label_values(label: str, match: str) -> set[str]:
        r = httpx.get(
            f"{live.endpoints.prometheus_url}/api/v1/label/{label}/values",
            params={"match[]": match, "start": live.start_s, "end": live.end_s},
            timeout=10.0,
        )
        return set(r.json()["data"])

    variables = {
        v["name"]: v["query"]
        for v in load_dashboards()["framework-comparison.json"]["templating"]["list"]
    }

    # label_values(<series>, <label>) as Grafana runs it: the label API with a match[] selector.
    def run_variable(name: str) -> set[str]:
        inner = variables[name].removeprefix("label_values(").removesuffix(")")
        series, label = inner.rsplit(", ", 1)
        return label_values(label, substitute(series))

    assert "local" in run_variable("namespace")
    assert run_variable("framework") == set(FRAMEWORKS)
    pods = run_variable("pod")
    assert pods == {p.name for p in live.endpoints.pods}, pods


def test_the_local_runs_grafana_shows_the_runs_data(live: LiveRun) -> None:
    grafana_url = live.endpoints.grafana_url
    if grafana_url is None:
        pytest.skip(
            "no grafana-server / grafana binary on PATH: Grafana is not on PyPI, in Debian or "
            "on npm, so it cannot be installed here; test_grafana_local_run.py checks the wiring"
        )
    assert provisioned_dashboards(grafana_url) == FWCAP_DASHBOARDS
    # Every panel query, through Grafana's own datasource, as its dashboards would ask.
    for target in TARGETS:
        r = httpx.get(
            f"{grafana_url}/api/datasources/proxy/uid/fwcap-prometheus/api/v1/query_range",
            params={
                "query": substitute(target.expr), "start": live.start_s, "end": live.end_s,
                "step": "1s",
            },
            timeout=30.0,
        )  # fmt: skip
        assert r.status_code == 200, f"{target.label}: {r.text}"
        assert _with_data(r.json()["data"]["result"]), f"{target.label}: no data via Grafana"
