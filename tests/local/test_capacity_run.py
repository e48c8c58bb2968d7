"""The run's orchestration on fakes: a fake clock, a fake Locust master whose pods serve up to a
set capacity, and a fake Prometheus. Proves the search on the shared grid, the A B B A
confirmation, the extension of an undecided step, the seeds, and that every step reaches the
JSONL the moment it is measured."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from capacity.load.client_stats import ClientStep
from capacity.load.driver import LocustStats
from capacity.measurements import read_records
from capacity.model.capacity_at_slo import Slo, capacity_at_slo, run_speed
from capacity.plan import build_plan
from capacity.run import CapacityRun, Progress, frameworks_order, plan_grid, step_seed
from capacity.slo import SPEED_TOLERANCE
from capacity.target.base import Endpoints, PodInfo
from capacity.target.cpuspeed import ProbeReading

URLS = {"django": "http://127.0.0.1:1", "fastapi": "http://127.0.0.1:2"}


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
    """Pods that meet the SLO up to `capacity_rps[framework]`; `flat_share` pins the share over
    the SLO at every rate instead (e.g. exactly 5%: never decided by the bound)."""

    clock: FakeClock
    capacity_rps: Mapping[str, float]
    flat_share: float | None = None
    swarms: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    stops: int = 0

    def swarm(
        self, *, scenario: str, users: int, spawn_rate: float, host: str,
        options: Mapping[str, Any],
    ) -> None:  # fmt: skip
        self.swarms.append((self.clock.now, host, dict(options)))

    def stop(self) -> None:
        self.stops += 1
        self.swarms.append((self.clock.now, "", {"fwcap_offered_rps": 0.0, "fwcap_key": ""}))

    def stats(self) -> LocustStats:
        return LocustStats("running", 1, 100, 0, 1.0, 5.0, ())

    def in_flight_now(self) -> int:
        # Arrivals stopped (offered 0) drain at once in this fake; a running step has some.
        offered, _warm = self.offered_at(self.clock.now)
        return 0 if offered == 0 else 5

    def framework_of(self, host: str) -> str:
        return next(fw for fw, url in URLS.items() if url == host)

    def offered_at(self, t: float) -> tuple[float, bool]:
        offered, warmup = 0.0, False
        for start, _host, options in self.swarms:
            if start <= t:
                offered = float(options.get("fwcap_offered_rps", 0.0))
                warmup = options.get("fwcap_step") == -1
        return offered, warmup

    def offered_integral(self, since: float, to: float) -> float:
        """Arrivals offered in [since, to]: what a pod's request counter gains meanwhile."""
        total = 0.0
        for i, (start, _host, options) in enumerate(self.swarms):
            end = self.swarms[i + 1][0] if i + 1 < len(self.swarms) else self.clock.now
            overlap = min(end, to) - max(start, since)
            if overlap > 0:
                total += float(options.get("fwcap_offered_rps", 0.0)) * overlap
        return total

    def client_step(self, key: str) -> ClientStep:
        """Arrivals tallied under `key`: the rate x the time the key was on, after the settle."""
        n = ok = 0
        first = last = None
        schedule_start, current = 0.0, None
        host = ""
        for i, (start, h, options) in enumerate(self.swarms):
            end = self.swarms[i + 1][0] if i + 1 < len(self.swarms) else self.clock.now
            rate = float(options.get("fwcap_offered_rps", 0.0))
            identity = (rate, options.get("fwcap_seed"), h)
            if identity != current:
                schedule_start, current = start, identity
            if options.get("fwcap_key") != key or rate <= 0:
                continue
            host = h
            begin = max(start, schedule_start + float(options["fwcap_settle_s"]))
            if end <= begin:
                continue
            count = round(rate * (end - begin))
            n += count
            first = begin if first is None else first
            last = end
        capacity = self.capacity_rps[self.framework_of(host)] if host else 0.0
        rate = n / (last - first) if first is not None and last is not None and last > first else 0
        if key.endswith("warm-up"):
            ok = round(min(rate, capacity) * ((last or 0) - (first or 0)))
            return ClientStep(key, n, ok, 0, n - ok, 0, first, last, {5: ok})
        share = (
            self.flat_share if self.flat_share is not None else (0.01 if rate <= capacity else 0.3)
        )
        over = round(share * n)
        return ClientStep(key, n, n, 0, 0, 0, first, last, {5: n - over, 500: over})


@dataclass
class FakeProm:
    master: FakeMaster

    def custom_query(self, query: str, params: dict[str, Any] | None = None, timeout: Any = None):  # type: ignore[no-untyped-def]
        t = float((params or {})["time"])
        offered, _warm = self.master.offered_at(t - 0.01)
        if "histogram_quantile" in query:
            value = 0.02
        elif 'container="locust"' in query:
            value = 0.1
        elif "count by" in query:
            value = 1
        elif "fwcap_loadgen_offered_rps" in query:
            value = offered
        elif "5.." in query:
            value = 0.0
        elif "container_cpu_usage_seconds_total" in query:
            value = offered * 0.002
        elif "max_over_time" in query:
            value = 80 * 2**20
        elif "throttled" in query:
            value = 0.0
        else:
            value = offered
        if query.endswith("s]"):  # a raw counter's samples, once a second over the range
            per_offered = 0.002 if "container_cpu_usage_seconds_total" in query else 1.0
            window = int(query[query.rindex("[") + 1 : -2])
            times = [t - window + 1 + i for i in range(window)]
            values = [
                100 + per_offered * self.master.offered_integral(t - window, u) for u in times
            ]
            return [
                {
                    "metric": {"pod": "p-0"},
                    "values": [[u, str(v)] for u, v in zip(times, values, strict=True)],
                }
            ]
        return [{"metric": {}, "value": [t, str(value)]}]


def _endpoints() -> Endpoints:
    pods = [
        PodInfo(f"{fw}-0", fw, url, 1, f"fwcap/x/{fw}-0", 500, 512 * 2**20, True)
        for fw, url in URLS.items()
    ]
    return Endpoints({fw: [url] for fw, url in URLS.items()}, "http://prom", "http://locust",
                     "local", pods)  # fmt: skip


def _run(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    capacity: Mapping[str, float],
    between_rounds: Callable[[], None] | None = None,
    cpu_probe: Callable[[], ProbeReading | None] = lambda: ProbeReading(38.0, 1.0),
    **plan_values: Any,
):
    plan = build_plan(cli={"scenarios": ["db-read"], "rounds": 1, **plan_values})
    clock = FakeClock()
    master = FakeMaster(clock, capacity)
    path = tmp_path / "m.jsonl"
    seen_on_disk: list[int] = []
    reported: list[object] = []

    def progress(p: Progress) -> None:
        if p.last_record is not None and all(p.last_record is not r for r in reported):
            reported.append(p.last_record)
            seen_on_disk.append(len(path.read_text().splitlines()))

    run = CapacityRun(
        plan, _endpoints(), measurements_path=path, run_id="r", check_pods=lambda: None,
        on_progress=progress, prom=FakeProm(master), master=master,  # type: ignore[arg-type]
        clock=clock, between_rounds=between_rounds,
        cpu_probe=cpu_probe, support_probe=lambda: ProbeReading(21.0, 1.1),
    )  # fmt: skip
    result = run.run()
    return plan, master, result, read_records(path), seen_on_disk


def test_each_framework_is_bracketed_and_confirmed_with_steps_interleaved_a_b_b_a(
    tmp_path: Path,
) -> None:
    plan, master, result, records, on_disk = _run(tmp_path, {"django": 95.0, "fastapi": 150.0})
    grid = plan_grid(plan)
    for fw, capacity in (("django", 95.0), ("fastapi", 150.0)):
        mine = [r for r in records if r.framework == fw]
        passed = {r.offered_rps for r in mine if r.decision == "pass"}
        failed = {r.offered_rps for r in mine if r.decision == "fail"}
        lo, hi = max(passed), min(failed)
        assert lo <= capacity < hi
        assert grid.index_at_or_below(hi) - grid.index_at_or_below(lo) == 1, (lo, hi)
        # Both ends measured twice: the confirmation re-runs them.
        assert [r.offered_rps for r in mine].count(lo) == 2
        assert [r.offered_rps for r in mine].count(hi) == 2
        assert result.endings[(fw, "db-read")].endswith("confirmed")
        assert [r.step for r in mine] == list(range(len(mine)))
    # Every offered rate is a rate of the one grid.
    assert all(r.offered_rps == grid.rps(r.grid_index) for r in records)
    # Every step interleaves, A B B A, while both searches run: drift lands on both alike.
    order = [r.framework for r in records]
    both = min(order.count("django"), order.count("fastapi"))
    pattern = ["django", "fastapi", "fastapi", "django"]
    assert order[: 2 * both - 1] == [pattern[i % 4] for i in range(2 * both - 1)], order
    # Every step started drained: arrivals stopped after each window, nothing in flight.
    assert all(r.in_flight_at_start == 0 for r in records)
    # Both cores probed before every step: the pods' and the support core(s).
    assert {(r.cpu_speed, r.support_cpu_speed) for r in records} == {(38.0, 21.0)}
    stops = [o for _t, _h, o in master.swarms if o.get("fwcap_offered_rps") == 0.0]
    assert len(stops) >= len(records), "arrivals stop at the end of every window"
    assert result.records == records
    assert on_disk == list(range(1, len(records) + 1)), "each step is on disk when reported"


def test_a_probe_reading_far_off_the_recent_ones_is_read_again_before_the_step(
    tmp_path: Path,
) -> None:
    # Steps 1-4 read 38; step 5 dips to 20 (-47%) once and then reads 38 again; step 7 stays
    # at 20 through both re-reads; steps 8-9 read 40 (+5%: within the tolerance, read once);
    # from step 10 the host is 50% faster for good: re-read until the recent readings are 60.
    script = [38.0] * 4 + [20.0, 38.0] + [38.0] + [20.0] * 3 + [40.0] * 2 + [60.0]
    calls: list[float] = []

    def probe() -> ProbeReading:
        calls.append(script[min(len(calls), len(script) - 1)])
        return ProbeReading(calls[-1], 1.0)

    _plan, _m, _r, records, _ = _run(tmp_path, {"django": 95.0, "fastapi": 150.0},
                                     cpu_probe=probe, rounds=2,
                                     between_rounds=lambda: None)  # fmt: skip
    assert len(records) > 13, "enough steps for the script"
    speeds = [r.cpu_speed for r in records]
    assert speeds[:9] == [38.0] * 6 + [20.0] + [40.0] * 2 and set(speeds[9:]) == {60.0}
    again = [i for i, r in enumerate(records) if "read again" in r.note]
    assert again == [4, 6, 9, 10, 11], again
    assert len(calls) == len(records) + 1 + 2 * 4, "one re-read for step 5, two for the others"
    assert "core-speed probe read again: -47%, then +0% off" in records[4].note
    assert "read again: -47%, then -47%, then -47% off" in records[6].note
    assert "read again: +58%, then +58%, then +58% off" in records[9].note
    assert "read again: +50%, then +50%, then +50% off" in records[11].note
    # The model leaves out what stayed off the run's median: the dip, among others.
    capacity = {
        fw: capacity_at_slo([r for r in records if r.framework == fw], Slo(), fw,
                            speed=run_speed(records), resamples=20)
        for fw in ("django", "fastapi")
    }  # fmt: skip
    left_out = sorted(v.record.started_at for c in capacity.values() for v in c.steps if v.excluded)
    expected = sorted(r.started_at for r in records if r.cpu_speed is not None
                      and abs(r.cpu_speed / run_speed(records) - 1) > SPEED_TOLERANCE)  # fmt: skip
    assert left_out == expected and records[6].started_at in left_out


def test_records_carry_the_limits_the_pods_ran_with_not_the_plans(tmp_path: Path) -> None:
    # A cluster's Deployment sets 500m/512Mi (the pods below) while the plan says 1500m/1Gi.
    _plan, _m, _r, records, _ = _run(tmp_path, {"django": 95.0, "fastapi": 95.0},
                                     cpu="1500m", memory="1Gi")  # fmt: skip
    assert {(r.pod_cpu_limit_millicores, r.pod_memory_limit_bytes) for r in records} == {
        (500, 512 * 2**20)
    }
    assert {r.workers for r in records} == {1}, "the launcher's workers for a 500m limit"


def test_a_later_round_warms_up_fresh_processes_then_steps_next_to_the_bracket(
    tmp_path: Path,
) -> None:
    seen: list[int] = []  # records on disk when the target was asked for fresh processes

    def restart() -> None:
        seen.append(len((tmp_path / "m.jsonl").read_text().splitlines()))

    plan, master, result, records, _ = _run(
        tmp_path, {"django": 95.0, "fastapi": 150.0}, between_rounds=restart, rounds=2
    )
    assert len(seen) == 1, "asked once, between the two rounds"
    swarms = [o for _t, _h, o in master.swarms if o.get("fwcap_framework")]
    for fw in ("django", "fastapi"):
        mine = [o for o in swarms if o["fwcap_framework"] == fw]
        warm_ups = [
            i for i, o in enumerate(mine) if o["fwcap_step"] == -1 and o["fwcap_offered_rps"]
        ]
        round_2 = min(r.step for r in records if r.framework == fw and r.round_index == 1)
        first_of_round_2 = next(i for i, o in enumerate(mine) if o["fwcap_step"] == round_2)
        last_of_round_1 = max(i for i, o in enumerate(mine) if o["fwcap_step"] == round_2 - 1)
        assert len(warm_ups) == 2, "one warm-up per round"
        assert last_of_round_1 < warm_ups[1] < first_of_round_2, "fresh pods warmed before use"
    first = [r for r in records if r.round_index == 0]
    second = [r for r in records if r.round_index == 1]
    assert seen == [len(first)] and records[: len(first)] == first
    assert second, "the second round measured"
    grid = plan_grid(plan)
    for fw in ("django", "fastapi"):
        lo = max(r.grid_index for r in first if r.framework == fw and r.decision == "pass")
        mine = [r.grid_index for r in second if r.framework == fw]
        assert 1 <= len(mine) <= plan.later_round_probes
        assert all(abs(k - lo) <= 1 for k in mine), "a later round stays next to the bracket"
        assert result.endings[(fw, "db-read")].startswith("round 2: bracket [")
        assert result.endings[(fw, "db-read")].endswith("this round's own")
    assert grid.rps(records[-1].grid_index) == records[-1].offered_rps


def test_one_round_asks_for_no_fresh_processes(tmp_path: Path) -> None:
    calls: list[int] = []
    _run(tmp_path, {"django": 95.0, "fastapi": 95.0}, between_rounds=lambda: calls.append(1))
    assert calls == []


def test_both_frameworks_get_the_same_arrival_sequence_at_the_same_rate_and_run() -> None:
    assert step_seed(1, "mixed", 40, 1) == step_seed(1, "mixed", 40, 1)
    seeds = {step_seed(1, "mixed", k, a) for k in range(30, 40) for a in (1, 2)}
    assert len(seeds) == 20, "another rate or run draws another sequence"
    assert step_seed(2, "mixed", 40, 1) != step_seed(1, "mixed", 40, 1)


def test_the_first_framework_alternates_from_scenario_to_scenario() -> None:
    assert frameworks_order(["django", "fastapi"], 0) == ["django", "fastapi"]
    assert frameworks_order(["django", "fastapi"], 1) == ["fastapi", "django"]


def test_seeds_in_the_records_match_for_both_frameworks(tmp_path: Path) -> None:
    _plan, _master, _result, records, _ = _run(tmp_path, {"django": 95.0, "fastapi": 95.0})
    by = {(r.framework, r.grid_index, r.attempt): r.seed for r in records}
    shared = [k for k in by if k[0] == "django" and ("fastapi", *k[1:]) in by]
    assert shared, "equal capacities must share measured rates"
    assert all(by[k] == by[("fastapi", *k[1:])] for k in shared)


def test_an_undecided_step_is_extended_once_and_pooled(tmp_path: Path) -> None:
    plan = build_plan(cli={"scenarios": ["db-read"], "frameworks": ["django"], "rounds": 1})
    clock = FakeClock()
    # Every rate is exactly at 5% over the SLO: never decided by the bound.
    master = FakeMaster(clock, {"django": 95.0}, flat_share=0.05)
    path = tmp_path / "m.jsonl"
    CapacityRun(
        plan, _endpoints(), measurements_path=path, run_id="r", check_pods=lambda: None,
        prom=FakeProm(master), master=master, clock=clock,  # type: ignore[arg-type]
    ).run()  # fmt: skip
    records = read_records(path)
    assert records and all(r.extended for r in records)
    keys = [o.get("fwcap_key") for _t, _h, o in master.swarms if o.get("fwcap_key")]
    assert any(k.endswith("+") for k in keys), "the extension is tallied under its own key"
    first = records[0]
    window = plan.step_duration_s - plan.settle_s
    assert first.requests == pytest.approx(first.offered_rps * 2 * window, rel=0.05)
    # The second window is a schedule of its own (another seed), after a drain.
    seeds = {o.get("fwcap_seed") for _t, _h, o in master.swarms if o.get("fwcap_key")}
    assert first.seed in seeds and first.seed + 1 in seeds
    # At exactly 5% the estimate decides: pass (<= 5%).
    assert first.decision == "pass"
    # The measured time is the two windows, and the server's figures are read over each: the
    # drained gap between them is no part of the step's load.
    assert len(first.measured_windows) == 2
    (_from1, to1), (from2, _to2) = first.measured_windows
    assert (from2 - to1).total_seconds() > 1
    assert first.duration_s == pytest.approx(2 * window)
    assert first.pod_cpu_cores == pytest.approx(first.offered_rps * 0.002, rel=0.02)
    assert first.cpu_seconds_per_request == pytest.approx(0.002, rel=0.02)


@pytest.mark.parametrize(("budget", "rounds"), [(None, 4), (86_400.0, 4), (60.0, 1)])
def test_a_later_round_starts_only_if_it_would_end_within_the_time_budget(
    tmp_path: Path, budget: float | None, rounds: int
) -> None:
    # The first round of this fake run takes minutes of its clock; with a 60 s budget a second
    # round (expected to take as long) would end past it, so the run stops after one and says so.
    plan, _master, result, records, _ = _run(
        tmp_path, {"django": 95.0, "fastapi": 150.0}, rounds=4, time_budget_s=budget
    )
    assert result.rounds_run == rounds
    assert {r.round_index for r in records} == set(range(rounds))
    if rounds < plan.rounds:
        assert result.budget_note is not None
        assert result.budget_note.startswith(f"{rounds} of {plan.rounds} rounds")
        assert "60 s time budget" in result.budget_note
    else:
        assert result.budget_note is None
