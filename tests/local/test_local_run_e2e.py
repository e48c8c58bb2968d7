"""Acceptance 2: a short real capacity run, checked against raw Prometheus data of its own.

Both services run as CPU-limited pods with real load; after the run, while Prometheus is still
up, the test reads raw samples (no rate(), no queries.py) and recomputes each step's requests/s
and CPU from first and last sample, and checks every pod's CPU against its cgroup quota.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from capacity.measurements import MeasurementRecord, read_records
from capacity.plan import Plan, build_plan
from capacity.run import CapacityRun, RunResult, plan_slo
from capacity.target.base import Endpoints
from capacity.target.local import LocalTarget
from tests.scrapes import raw_counter_rate, raw_samples, wait_for_scrapes_after

pytestmark = [pytest.mark.live, pytest.mark.timeout(300)]

FRAMEWORKS = ("django", "fastapi")
TOLERANCE = 0.10  # acceptance: requests/s and CPU within 10%
QUOTA_SLACK = 0.05  # acceptance: never more than 5% above the quota
QUOTA_WINDOW_S = 5.0  # CFS enforces per 100 ms period; over >= 5 s the edge effect is < 2%


@dataclass(frozen=True)
class Run:
    plan: Plan
    endpoints: Endpoints
    result: RunResult
    records_on_disk: list[MeasurementRecord]
    first_pids: dict[str, int | None]  # pod name -> its server's pid in the first round
    start_s: float
    end_s: float
    limits_enforced: bool


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    plan = build_plan(
        cli={
            "frameworks": list(FRAMEWORKS),
            "scenarios": ["db-read"],
            "step_duration_s": 6,
            "warmup_s": 4,
            # A short search in two rounds (the pods restarted between them): enough steps to
            # check each against raw data, some of them from a second process of each pod.
            "max_probes": 2,
            "rounds": 2,
            "later_round_probes": 2,
        }
    )
    out = tmp_path_factory.mktemp("e2e")
    measurements = out / "measurements.jsonl"
    # The work dir (PostgreSQL's data, owned by its own user when we are root) is not under
    # pytest's basetemp: any pytest starting on the machine re-chmods that to 0700 and would
    # lock PostgreSQL out of it mid-run (tests/conftest.py `run_dir`).
    work = Path(tempfile.mkdtemp(prefix="fwcap-e2e-"))
    target = LocalTarget(
        plan.frameworks, 1, plan.pod_shape(), work, scrape_interval_s=1, locust_workers=1
    )
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)  # after the target stopped
        endpoints = cleanup.enter_context(target)
        first_pids = {p.name: p.pid for p in endpoints.pods}
        start = time.time()
        result = CapacityRun(
            plan, endpoints, measurements_path=measurements, run_id=target.run_id,
            check_pods=target.check_pods, between_rounds=target.between_rounds,
            pods_cpu_s=target.pods_cpu_s,
        ).run()  # fmt: skip
        # The last scrapes: every target scraped once more after the run (not a fixed 2 s).
        wait_for_scrapes_after(endpoints.prometheus_url, time.time())
        yield Run(
            plan, endpoints, result, read_records(measurements), first_pids, start, time.time(),
            target.cgroups is not None,
        )  # fmt: skip


def _raw(run: Run, selector: str, window_s: float, at_s: float) -> list[list[tuple[float, float]]]:
    return raw_samples(run.endpoints.prometheus_url, selector, int(window_s), at_s)


def _slope(samples: list[tuple[float, float]]) -> float:
    (t0, v0), (t1, v1) = samples[0], samples[-1]
    return (v1 - v0) / (t1 - t0)


def _windows(r: MeasurementRecord) -> list[tuple[float, float]]:
    """The measuring windows the run read: an extended step's two, without the gap between."""
    return [(since.timestamp(), to.timestamp()) for since, to in r.measured_windows]


def test_every_step_was_recorded_as_it_finished(run: Run) -> None:
    assert run.records_on_disk == run.result.records
    for fw in FRAMEWORKS:
        steps = [r for r in run.records_on_disk if r.framework == fw]
        assert [r.step for r in steps] == list(range(len(steps)))
        assert 1 <= len(steps) <= run.plan.max_probes + run.plan.later_round_probes
        for r in steps:
            assert r.requests > 0 and r.client_latency_p95_ms is not None
            assert 0 <= r.over_slo_lower <= r.over_slo_ratio <= r.over_slo_upper <= 1
            assert r.pods == 1 and r.pod_cpu_limit_millicores == 500
            assert r.pod_memory_limit_bytes == 512 * 2**20
            assert r.limits_enforced is run.limits_enforced
            assert r.achieved_rps > 0 and r.client_latency_p95_ms is not None
            # The server's histogram has no p95 when most requests overflow its last
            # bucket (an overloaded, failing step); a passing step always has one.
            if r.decision == "pass":
                assert r.latency_p95_ms is not None
            assert 10 * 2**20 < r.pod_memory_working_set_bytes < r.pod_memory_limit_bytes
            assert 0 < r.generator_cpu_ratio < 1
            # The request-cost probe: 20 sequential reads cost what a request of the step did,
            # give or take what the load changes (batching, contention).
            assert r.request_probe_cpu_s is not None
            if r.cpu_seconds_per_request:
                assert 0.25 < r.request_probe_cpu_s / r.cpu_seconds_per_request < 4, r


def test_a_later_round_ran_on_fresh_pod_processes_behind_the_same_urls(run: Run) -> None:
    assert {r.round_index for r in run.records_on_disk} == {0, 1}
    for pod in run.endpoints.pods:
        assert pod.pid is not None and pod.pid != run.first_pids[pod.name]
        assert httpx.get(pod.base_url + "/readyz", timeout=5).status_code == 200
    for fw in FRAMEWORKS:
        second = [r for r in run.records_on_disk if r.framework == fw and r.round_index == 1]
        assert second and all(r.requests > 0 for r in second)
        # The restart cost the generator no connection: a passing step has no error at all.
        assert all(r.error_ratio == 0 for r in second if r.decision == "pass")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_recorded_requests_per_second_match_raw_counter_samples(run: Run, framework: str) -> None:
    selector = (
        f'http_server_request_duration_seconds_count{{namespace="local", app="{framework}", '
        'http_route=~"/api/.+"}'
    )
    for r in (r for r in run.records_on_disk if r.framework == framework):
        raw_rps = raw_counter_rate(run.endpoints.prometheus_url, selector, _windows(r))
        if raw_rps is None:
            # An overloaded pod can miss every /metrics scrape of a short window (each waits
            # behind the queued requests past the scrape timeout). Only a failing step may,
            # and then the run must have recorded no server-side figure either.
            assert r.decision == "fail", f"no raw samples for passing step {r.step}"
            assert r.latency_p95_ms is None, (r.step, r.latency_p95_ms)
            continue
        # The client counts completions of the window's arrivals, the server what it finished
        # in the window: the same when the pod keeps up (a passing step).
        if r.decision == "pass":
            assert r.achieved_rps == pytest.approx(raw_rps, rel=TOLERANCE), (r.step, raw_rps)
        # CPU per request: the pod's CPU over the same window's served requests.
        assert r.cpu_seconds_per_request is not None
        assert r.cpu_seconds_per_request == pytest.approx(r.pod_cpu_cores / raw_rps, rel=0.15)
        # And the generator really offered it, when the pod kept up (a looser bound: a busy
        # shared machine can delay the generator itself). A window's arrivals are one draw of
        # a Poisson process: over a 4 s window at 50 req/s the seeded sequence can hold 18% more
        # than the nominal rate. So the server's count is compared with the rate the client
        # scheduled in its window (an extended step's two windows, without the gap between),
        # and that with the nominal rate within Poisson noise.
        keeping_up = r.latency_p95_ms is not None and r.latency_p95_ms < 50
        if keeping_up and not r.generator_saturated and r.achieved_rps > 0:
            client_window_s = r.requests * (1 - r.error_ratio) / r.achieved_rps
            scheduled_rps = r.requests / client_window_s
            assert raw_rps == pytest.approx(scheduled_rps, rel=0.2), (r.step, r.requests)
            expected = r.offered_rps * client_window_s
            assert abs(r.requests - expected) <= 4.5 * math.sqrt(expected) + 2, (r.step, expected)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_recorded_pod_cpu_matches_raw_cpuacct_samples(run: Run, framework: str) -> None:
    selector = f'container_cpu_usage_seconds_total{{namespace="local", container="{framework}"}}'
    for r in (r for r in run.records_on_disk if r.framework == framework):
        raw_cores = raw_counter_rate(run.endpoints.prometheus_url, selector, _windows(r))
        assert raw_cores is not None, f"no raw samples for step {r.step}"
        assert r.pod_cpu_cores == pytest.approx(raw_cores, rel=TOLERANCE), (r.step, raw_cores)


def test_pod_cpu_never_exceeded_its_cgroup_quota(run: Run) -> None:
    if not run.limits_enforced:
        pytest.skip("cgroups cannot be written on this machine: no quota to check")
    duration = run.end_s - run.start_s
    throttled = 0.0
    for pod in run.endpoints.pods:
        sel = f'{{namespace="local", pod="{pod.name}"}}'
        quota = _raw(run, f"container_spec_cpu_quota{sel}", duration, run.end_s)[0][-1][1]
        period = _raw(run, f"container_spec_cpu_period{sel}", duration, run.end_s)[0][-1][1]
        assert quota / period == pytest.approx(pod.cpu_limit_millicores / 1000)
        limit_cores = quota / period
        usage = _raw(run, f"container_cpu_usage_seconds_total{sel}", duration, run.end_s)[0]
        assert usage[-1][0] - usage[0][0] > 0.8 * duration
        assert _slope(usage) <= limit_cores * (1 + QUOTA_SLACK)  # over the whole run
        j = 0
        for i, (t_i, v_i) in enumerate(usage):  # every window of >= 5 s
            j = max(j, i + 1)
            while j < len(usage) and usage[j][0] - t_i < QUOTA_WINDOW_S:
                j += 1
            if j == len(usage):
                break
            cores = (usage[j][1] - v_i) / (usage[j][0] - t_i)
            assert cores <= limit_cores * (1 + QUOTA_SLACK), (pod.name, t_i, cores)
        periods = _raw(run, f"container_cpu_cfs_throttled_periods_total{sel}", duration, run.end_s)
        throttled += _slope(periods[0]) * (periods[0][-1][0] - periods[0][0][0])
    # Not vacuous: the quota did bind (the warm-up at full throttle hits it in some periods).
    assert throttled > 0


def test_the_records_feed_the_capacity_model(run: Run, tmp_path: Path) -> None:
    from capacity.report import build_report

    measurements = tmp_path / "measurements.jsonl"
    measurements.write_text(
        "".join(r.model_dump_json() + "\n" for r in run.records_on_disk), encoding="utf-8"
    )
    out = build_report(measurements, tmp_path / "report", slo=plan_slo(run.plan))
    results = json.loads((out / "results.json").read_text())
    assert (out / "report.html").stat().st_size > 0
    series = {(s["framework"], s["scenario"]): s for s in results["series"]}
    assert set(series) == {(fw, "db-read") for fw in FRAMEWORKS}
    for s in series.values():
        assert 1 <= len(s["steps"]) <= run.plan.max_probes + run.plan.later_round_probes
        assert s["capacity_per_pod_rps"]["kind"] == "capacity_per_pod_rps"
        assert len(s["capacity_interval_rps"]) == 2
    assert results["limits_enforced"]["all"] is run.limits_enforced
