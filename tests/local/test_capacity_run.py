"""The run's orchestration on fakes: a fake clock, a fake Locust master and a fake Prometheus
whose pods serve up to a set capacity. Proves the ladder, early stop, re-basing, numbering and
that every step reaches the JSONL the moment it is measured."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from capacity.load.driver import LocustStats
from capacity.measurements import read_records
from capacity.plan import build_plan
from capacity.run import CapacityRun, Progress
from capacity.target.base import Endpoints, PodInfo


@dataclass
class FakeClock:
    now: float = 1_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeMaster:
    """Remembers what was offered when; pods serve at most `capacity_rps` in total."""

    clock: FakeClock
    swarms: list[tuple[float, str, int, Mapping[str, Any]]] = field(default_factory=list)
    stops: int = 0

    def swarm(
        self, *, scenario: str, users: int, spawn_rate: float, host: str,
        options: Mapping[str, Any],
    ) -> None:  # fmt: skip
        self.swarms.append((self.clock.now, host, users, dict(options)))

    def stop(self) -> None:
        self.stops += 1
        self.swarms.append((self.clock.now, "", 0, {"fwcap_user_rps": 0.0, "stopped": True}))

    def reset_stats(self) -> None:
        pass

    def stats(self) -> LocustStats:
        return LocustStats("running", 1, 100, 0, 1.0, 5.0, ())

    def offered_at(self, t: float) -> tuple[float, bool]:
        """(offered req/s, full throttle?) in force at time t."""
        offered, warmup = 0.0, False
        for start, _host, _users, options in self.swarms:
            if start <= t:
                warmup = options.get("fwcap_step") == -1
                offered = float(options.get("fwcap_offered_rps", 0.0))
                if options.get("stopped"):
                    offered, warmup = 0.0, False
        return offered, warmup


@dataclass
class FakeProm:
    master: FakeMaster
    capacity_rps: float
    warmup_rps: float

    def custom_query(self, query: str, params: dict[str, Any] | None = None, timeout: Any = None):  # type: ignore[no-untyped-def]
        t = float((params or {})["time"])
        offered, warmup = self.master.offered_at(t - 0.01)
        achieved = self.warmup_rps if warmup else min(offered, self.capacity_rps)
        overloaded = offered > self.capacity_rps
        if "histogram_quantile" in query:
            value = 0.4 if overloaded else 0.02
        elif 'container="locust"' in query:
            value = 0.1
        elif "count by" in query:
            value = 1
        elif "fwcap_loadgen_offered_rps" in query:
            value = offered
        elif "5.." in query:
            value = 0.0
        elif "container_cpu_usage_seconds_total" in query:
            value = achieved * 0.002
        elif "max_over_time" in query:
            value = 80 * 2**20
        elif "throttled" in query:
            value = 0.0
        else:
            value = achieved
        return [{"metric": {}, "value": [t, str(value)]}]


def _endpoints() -> Endpoints:
    pod = PodInfo("django-0", "django", "http://127.0.0.1:1", 1, "fwcap/x/django-0", 500,
                  512 * 2**20, True)  # fmt: skip
    return Endpoints({"django": [pod.base_url]}, "http://prom", "http://locust", "local", [pod])


def _run(tmp_path: Path, capacity: float, warmup: float, **plan_values: Any):  # type: ignore[no-untyped-def]
    plan = build_plan(cli={"frameworks": ["django"], "scenarios": ["db-read"], **plan_values})
    clock = FakeClock()
    master = FakeMaster(clock)
    seen_on_disk: list[int] = []
    path = tmp_path / "m.jsonl"

    reported: list[object] = []

    def progress(p: Progress) -> None:
        if p.last_record is not None and all(p.last_record is not r for r in reported):
            reported.append(p.last_record)
            seen_on_disk.append(len(path.read_text().splitlines()))

    run = CapacityRun(
        plan, _endpoints(), measurements_path=path, run_id="r", check_pods=lambda: None,
        on_progress=progress, prom=FakeProm(master, capacity, warmup), master=master,  # type: ignore[arg-type]
        clock=clock,
    )  # fmt: skip
    result = run.run()
    return plan, master, result, read_records(path), seen_on_disk


def test_the_ladder_climbs_from_the_warm_up_ceiling_and_stops_at_the_first_failure(
    tmp_path: Path,
) -> None:
    plan, master, result, records, on_disk = _run(tmp_path, capacity=95, warmup=100)
    assert [round(r.offered_rps) for r in records] == [60, 80, 90, 100]  # 0.6 .. 1.0 x 100
    assert [r.step for r in records] == [0, 1, 2, 3]
    assert [r.note.endswith("meets the SLO") for r in records] == [True, True, True, False]
    assert "p95 400.0 ms > SLO 100 ms" in (records[-1].note or "")
    assert result.endings[("django", "db-read")].startswith("stopped after step 3")
    assert result.records == records
    assert on_disk == [1, 2, 3, 4], "each step is on disk when it is reported"
    # The window of each record is the step minus the settle period, at the step's end.
    assert all(r.duration_s == pytest.approx(plan.step_duration_s) for r in records)
    assert master.stops >= 2  # after the warm-up (fresh, even user split) and at the end


def test_a_ladder_that_starts_too_high_is_halved_and_climbs_again(tmp_path: Path) -> None:
    _plan, _master, _result, records, _ = _run(tmp_path, capacity=40, warmup=100)
    offered = [round(r.offered_rps) for r in records]
    assert offered[0] == 60 and offered[1] == 30, offered  # 0.6 x 100 failed; 0.6 x 50 passes
    assert [r.step for r in records] == list(range(len(records))), "numbered without gaps"
    assert any(r.note.endswith("meets the SLO") for r in records)
    assert (
        records[-1].offered_rps
        > 40
        >= max(r.offered_rps for r in records if r.note.endswith("meets the SLO"))
    )


def test_explicit_steps_run_as_given_until_the_slo_breaks_twice(tmp_path: Path) -> None:
    _plan, _master, _result, records, _ = _run(
        tmp_path, capacity=35, warmup=100, steps_rps=[10, 20, 30, 40, 50, 60],
        stop_after_failures=2,
    )  # fmt: skip
    assert [r.offered_rps for r in records] == [10, 20, 30, 40, 50]
    assert all(r.workers == 1 and r.threads == 4 and r.limits_enforced for r in records)


def test_users_are_a_multiple_of_the_pods_and_pace_the_offered_rate(tmp_path: Path) -> None:
    _plan, master, _result, records, _ = _run(tmp_path, capacity=1000, warmup=200, max_steps=2)
    steps = [(u, o) for _t, _h, u, o in master.swarms if o.get("fwcap_step", -1) >= 0]
    for users, options in steps:
        assert options["fwcap_user_rps"] <= 4.0
        assert users * options["fwcap_user_rps"] == pytest.approx(options["fwcap_offered_rps"])
    assert len(records) == 2
