"""URL mode end to end: `capacity report --prometheus-url ... --locust-url ... --namespace local`
against a locally started stack, checked like the local end-to-end run (tests/local).

The local target starts the real stack (PostgreSQL, both services in cgroups, Locust master +
worker, the pod exporter, Prometheus); the real CLI, in its own process, is then pointed at that
stack's URLs only. It starts nothing itself: it finds the pods through Prometheus' scrape targets
by their labels, drives the Locust master, and writes the report. While the stack is still up,
the test recomputes each recorded step from raw Prometheus samples (no rate(), no queries.py).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from capacity.measurements import MeasurementRecord, read_records
from capacity.plan import build_plan
from capacity.target.base import Endpoints
from capacity.target.local import LocalTarget, find_prometheus
from tests.scrapes import raw_counter_rate

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]

FRAMEWORKS = ("django", "fastapi")
TOLERANCE = 0.10  # acceptance: the report's figures within 10% of raw Prometheus
PLAN = {
    "scenarios": ["db-read"],
    "step_duration_s": 6,
    "warmup_s": 5,
    "max_probes": 3,  # a short search: enough steps to check each against raw data
    "rounds": 1,  # a cluster's pods are not restarted between rounds; one round checks it all
    # Steps well below the knee, where the client's and the server's counts of a window must
    # agree; a step at the knee passes with the server still finishing the window's requests.
    "start_fraction": 0.6,
}


@dataclass(frozen=True)
class Run:
    endpoints: Endpoints
    cli: subprocess.CompletedProcess[str]
    out: Path
    records: list[MeasurementRecord]
    settle_s: float


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    try:
        find_prometheus()
    except Exception as e:
        pytest.skip(f"needs the prometheus binary: {e}")
    tmp = tmp_path_factory.mktemp("url-mode")
    plan = build_plan(cli={"frameworks": list(FRAMEWORKS), **PLAN})
    plan_file = tmp / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(PLAN))
    out = tmp / "report"
    work = Path(tempfile.mkdtemp(prefix="fwcap-url-e2e-"))
    stack = LocalTarget(plan.frameworks, 1, plan.pod_shape(), work, scrape_interval_s=1)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)  # after the stack stopped
        endpoints = cleanup.enter_context(stack)
        cli = subprocess.run(
            [
                str(Path(sys.executable).with_name("capacity")),
                "report",
                "--prometheus-url",
                endpoints.prometheus_url,
                "--locust-url",
                endpoints.locust_url,
                "--namespace",
                "local",
                "--frameworks",
                ",".join(FRAMEWORKS),
                "--plan",
                str(plan_file),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=500,
        )
        records = read_records(out / "measurements.jsonl") if cli.returncode == 0 else []
        yield Run(endpoints, cli, out, records, plan.settle_s)


def _windows(r: MeasurementRecord) -> list[tuple[float, float]]:
    """The measuring windows the run read: an extended step's two, without the gap between."""
    return [(since.timestamp(), to.timestamp()) for since, to in r.measured_windows]


def test_the_cli_ran_in_url_mode_and_wrote_the_report(run: Run) -> None:
    assert run.cli.returncode == 0, run.cli.stderr[-3000:]
    assert (run.out / "report.html").stat().st_size > 0
    platform = json.loads((run.out / "platform.json").read_text())
    assert platform["mode"] == "url" and platform["target"] == "kube"
    assert platform["cadvisor_refresh_measured"] is True
    results = json.loads((run.out / "results.json").read_text())
    series = {(s["framework"], s["scenario"]) for s in results["series"]}
    assert series == {(fw, "db-read") for fw in FRAMEWORKS}
    assert not (run.out / "this-cluster.md").exists(), "no Kubernetes API, so no node table"


def test_every_step_was_recorded_against_the_running_pods(run: Run) -> None:
    pods = {p.name for p in run.endpoints.pods}
    for fw in FRAMEWORKS:
        steps = [r for r in run.records if r.framework == fw]
        assert [r.step for r in steps] == list(range(len(steps)))
        assert 1 <= len(steps) <= PLAN["max_probes"]
        for r in steps:
            assert r.target == "kube" and r.pods == 1
            assert r.achieved_rps > 0 and r.client_latency_p95_ms is not None
            # The server's histogram has no p95 when most requests overflow its last
            # bucket (an overloaded, failing step); a passing step always has one.
            if r.decision == "pass":
                assert r.latency_p95_ms is not None
            assert f"Prometheus saw {r.pods}" not in (r.note or "")
    assert pods == {"django-0", "fastapi-0"}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_reported_requests_per_second_match_raw_prometheus(run: Run, framework: str) -> None:
    selector = (
        f'http_server_request_duration_seconds_count{{namespace="local", app="{framework}", '
        'http_route=~"/api/.+"}'
    )
    steps = [r for r in run.records if r.framework == framework]
    assert steps
    for r in steps:
        raw_rps = raw_counter_rate(run.endpoints.prometheus_url, selector, _windows(r))
        assert raw_rps is not None, f"no raw samples for step {r.step}"
        print(f"{framework} step {r.step}: report {r.achieved_rps:.1f} req/s, raw {raw_rps:.1f}")
        # The client counts completions of the window's arrivals, the server what it finished
        # in the window: the same when the pod keeps up (a passing step).
        if r.decision == "pass":
            assert r.achieved_rps == pytest.approx(raw_rps, rel=TOLERANCE), (r.step, raw_rps)
        # CPU per request: the pod's CPU over the same window's served requests.
        assert r.cpu_seconds_per_request is not None
        assert r.cpu_seconds_per_request == pytest.approx(r.pod_cpu_cores / raw_rps, rel=0.15)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_reported_pod_cpu_matches_raw_prometheus(run: Run, framework: str) -> None:
    selector = f'container_cpu_usage_seconds_total{{namespace="local", container="{framework}"}}'
    steps = [r for r in run.records if r.framework == framework]
    assert steps
    for r in steps:
        raw_cores = raw_counter_rate(run.endpoints.prometheus_url, selector, _windows(r))
        assert raw_cores is not None, f"no raw samples for step {r.step}"
        print(f"{framework} step {r.step}: report {r.pod_cpu_cores:.3f} cores, raw {raw_cores:.3f}")
        assert r.pod_cpu_cores == pytest.approx(raw_cores, rel=TOLERANCE), (r.step, raw_cores)
