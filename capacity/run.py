"""One capacity run: plan -> target -> load -> metrics -> measurements JSONL.

Per round and scenario, each framework is searched with its own `Ladder` (capacity/load/ladder.py:
which grid rate next), and the frameworks' steps alternate in time, A B B A A B ..., so drift of
the machine over the run lands on both alike. Every step is drained: arrivals stop at the end of
its window, and the next step starts only once nothing is in flight at the generator and the
pods' CPU is back near idle (bounded by `DRAIN_TIMEOUT_S`, with the reason recorded), so no step
inherits another's queue. Just before each step, while drained, an interpreter-bound probe
measures the pods' core speed (local target). A later round starts at the bracket of the
earlier one and searches in single grid steps until it has its own one-step bracket, so it costs
a few steps. Each step is judged by capacity/slo.py.

This module only does the I/O: it drives the Locust master (open arrivals at the grid rate),
waits, reads the generator's per-step tally and Prometheus, and appends one record per step to
the JSONL as soon as the step is decided, so a crash or Ctrl-C loses nothing measured.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from capacity import interrupts
from capacity.errors import TargetError
from capacity.frameworks import DJANGO_THREADS
from capacity.load.client_stats import ClientStep
from capacity.load.driver import LocustMaster, LocustStats
from capacity.load.ladder import Ladder, Probe, RateGrid
from capacity.load.steps import eta_s
from capacity.measurements import SCHEMA_VERSION, MeasurementRecord, append_record
from capacity.metrics.client import PromQuery, StepMetrics, connect, pool, read_step
from capacity.plan import Plan
from capacity.slo import (
    PROBE_RETRIES,
    PROBE_RETRY_PAUSE_S,
    SPEED_TOLERANCE,
    Slo,
    StepCounts,
    decide,
    judge,
    step_counts,
)
from capacity.target.base import Endpoints
from capacity.target.cpuspeed import ProbeReading
from capacity.target.hostcpu import HostSample, foreign_pod_core_cores
from capacity.target.requestcost import request_cost

Phase = Literal["warm-up", "step", "scenario-done", "round"]
# A warm-up offers far more than any pod serves; the in-flight cap turns it into a saturating
# closed loop whose completion rate is the ceiling the search starts from.
WARMUP_RPS = 1000.0
# How long after a step's end its last requests may still finish before they count as late.
DRAIN_S = 5.0
# The longest wait for the previous load to drain (the generator's request timeout is 10 s).
DRAIN_TIMEOUT_S = 15.0
# The pods are idle when they used less than this share of their CPU limit over a poll.
IDLE_SHARE = 0.05
# A core-speed reading is checked against the median of this many readings before it.
RECENT_READINGS = 5


@dataclass(frozen=True)
class Progress:
    """What the live display shows; emitted about once a second and after every step."""

    framework: str
    scenario: str
    phase: Phase
    scenario_index: int  # 0-based position in plan.combos()
    scenarios_total: int
    step: int | None = None
    offered_rps: float | None = None
    live_rps: float | None = None  # Locust's own sliding window
    live_p95_ms: float | None = None
    last_record: MeasurementRecord | None = None
    eta_s: float = 0.0
    message: str | None = None


@dataclass
class RunResult:
    records: list[MeasurementRecord] = field(default_factory=list)
    # (framework, scenario) -> why its search ended
    endings: dict[tuple[str, str], str] = field(default_factory=dict)
    rounds_run: int = 0
    budget_note: str | None = None  # why fewer rounds ran than planned


def plan_slo(plan: Plan) -> Slo:
    return Slo(latency_ms=plan.slo_p95_ms, percentile="p95", max_error_ratio=plan.error_budget)


def plan_grid(plan: Plan) -> RateGrid:
    top = math.floor(math.log(20_000 / plan.grid_base_rps) / math.log(plan.grid_ratio))
    return RateGrid(plan.grid_base_rps, plan.grid_ratio, max(1, top))


def step_seed(base: int, scenario: str, grid_index: int, attempt: int) -> int:
    """The arrival sequence of a step: the same for both frameworks at the same rate and run."""
    return (base * 1_000_003 + zlib.crc32(f"{scenario}:{grid_index}:{attempt}".encode())) % (
        2**31 - 1
    )


def frameworks_order(frameworks: list[str], scenario_index: int) -> list[str]:
    """Alternate which framework goes first, scenario by scenario."""
    return list(frameworks) if scenario_index % 2 == 0 else list(reversed(frameworks))


class Clock(Protocol):
    """Time as the run sees it (a test passes a fake that advances on sleep)."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class _Window:
    started_s: float  # wall clock: the step's start (settle included)
    measured: tuple[tuple[float, float], ...]  # wall clock: each measuring window (from, to)

    @property
    def ended_s(self) -> float:
        return self.measured[-1][1]

    @property
    def measured_s(self) -> float:
        """The time measured: an extended step's two windows, without the gap between."""
        return sum(to - since for since, to in self.measured)


@dataclass(frozen=True)
class _Drain:
    """How the step's start found the previous load: waited, and what was still in flight."""

    waited_s: float
    in_flight_at_start: int | None
    note: str | None  # why the drain timed out, when it did


@dataclass(frozen=True)
class _Before:
    """What a step's start read, drained and before its load: the drain itself, the probes on
    the pods' core (and its note when read again) and on the others, the request cost, and the
    host's CPU counters."""

    drain: _Drain
    speed: ProbeReading | None
    speed_note: str | None
    support_speed: ProbeReading | None
    request_cost_s: float | None
    host: HostSample | None


class CapacityRun:
    """Drives every framework x scenario of a plan against started endpoints."""

    def __init__(
        self,
        plan: Plan,
        endpoints: Endpoints,
        *,
        measurements_path: Path,
        run_id: str,
        check_pods: Callable[[], None],
        target_kind: Literal["local", "kube"] = "local",
        on_progress: Callable[[Progress], None] | None = None,
        prom: PromQuery | None = None,
        master: LocustMaster | None = None,
        clock: Clock | None = None,
        host_cpu: Callable[[], HostSample | None] | None = None,
        cpu_probe: Callable[[], ProbeReading | None] | None = None,
        support_probe: Callable[[], ProbeReading | None] | None = None,
        between_rounds: Callable[[], None] | None = None,
        pods_cpu_s: Callable[[], float | None] | None = None,
    ) -> None:
        self.clock: Clock = clock or interrupts.CLOCK
        self.plan = plan
        self.endpoints = endpoints
        self.measurements_path = measurements_path
        self.run_id = run_id
        self.check_pods = check_pods
        self.target_kind = target_kind
        self.on_progress = on_progress or (lambda _p: None)
        self.prom: PromQuery = prom or connect(endpoints.prometheus_url)
        self.master = master or LocustMaster(endpoints.locust_url, auth=endpoints.locust_auth)
        self.host_cpu = host_cpu or (lambda: None)
        self.cpu_probe = cpu_probe or (lambda: None)
        self.support_probe = support_probe or (lambda: None)
        self.between_rounds = between_rounds
        self.pods_cpu_s = pods_cpu_s
        self.slo = plan_slo(plan)
        self.grid = plan_grid(plan)
        self.result = RunResult()
        self._combo = (0, "", "")  # index, framework, scenario
        self._combo_started_s = self.clock.monotonic()
        self._last_record: MeasurementRecord | None = None
        self._query_delay_s = plan.scrape_interval_s + 0.7
        self._numbers: dict[tuple[str, str], int] = {}
        self._on_host = ""  # the framework the generator currently loads
        self._round = 0
        self._speeds: list[float] = []  # the pods' core-speed readings kept so far
        # The time order of the frameworks' steps, as results.json states it.
        self.order: list[str] = []

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> RunResult:
        try:
            earlier: dict[tuple[str, str], Ladder] = {}
            started = self.clock.monotonic()
            took: list[float] = []  # each round's wall time, its restart included
            for round_index in range(self.plan.rounds):
                if round_index > 0 and self._over_budget(round_index, started, took):
                    break
                round_started = self.clock.monotonic()
                self._round = round_index
                self.result.rounds_run = round_index + 1
                if round_index > 0 and self.between_rounds is not None:
                    self._new_processes(round_index)
                for s_index, scenario in enumerate(self.plan.scenarios):
                    order = frameworks_order(
                        list(self.plan.frameworks), s_index + round_index * len(self.plan.scenarios)
                    )
                    ladders = {fw: self._ladder(fw, scenario, earlier.get((fw, scenario)))
                               for fw in order}  # fmt: skip
                    self._interleave(scenario, order, ladders)
                    for framework in order:
                        earlier[(framework, scenario)] = ladders[framework]
                        ending = self._ending(ladders[framework])
                        self.result.endings[(framework, scenario)] = ending
                        self._combo = (self._combo[0], framework, scenario)
                        self._emit("scenario-done", message=f"{framework} {scenario}: {ending}")
                took.append(self.clock.monotonic() - round_started)
        finally:
            with contextlib.suppress(TargetError):
                self.master.stop()
        return self.result

    def _over_budget(self, round_index: int, started: float, took: list[float]) -> bool:
        """True (and the reason noted) when the next round would end past the time budget: it
        is expected to take as long as the longest later round so far (the first round, a
        longer search, until there is one)."""
        budget = self.plan.time_budget_s
        if budget is None:
            return False
        elapsed = self.clock.monotonic() - started
        expected = max(took[1:], default=took[0])
        if elapsed + expected <= budget:
            return False
        self.result.budget_note = (
            f"{round_index} of {self.plan.rounds} rounds: after {elapsed:.0f} s of measuring, "
            f"round {round_index + 1} (about {expected:.0f} s) would have ended past the "
            f"{budget:g} s time budget (`time_budget_s`)"
        )
        self._emit("round", message=self.result.budget_note)
        return True

    def _new_processes(self, round_index: int) -> None:
        """The target's fresh processes for a later round; the generator's users, whose
        connections went with the old ones, start afresh too."""
        assert self.between_rounds is not None
        with contextlib.suppress(TargetError):
            self.master.stop()
        self._on_host = ""
        self._emit("round", message=f"round {round_index + 1}: restarting the pods")
        self.between_rounds()

    def _ladder(self, framework: str, scenario: str, earlier: Ladder | None) -> Ladder:
        """The search of one round: the first starts from a warm-up's ceiling, a later one
        (after its own warm-up) next to the earlier round's bracket, in single grid steps."""
        self._enter(framework, scenario)
        if earlier is None:
            ceiling = self._warm_up(framework, scenario)
            start = self.grid.index_at_or_below(self.plan.start_fraction * ceiling)
            return Ladder(
                self.grid, start_index=start, allowed_ratio=self.slo.allowed_over_ratio,
                stride=self.plan.stride, max_probes=self.plan.max_probes,
            )  # fmt: skip
        # A later round's pods are fresh processes (locally): their first requests open pools and
        # fill caches, which its first step would otherwise pay for. The warm-up is the same as
        # round 1's, so every round's steps start from the same state; its ceiling is unused.
        self._warm_up(framework, scenario)
        lo, hi = earlier.bracket()
        start = lo if lo is not None else max(0, (hi or 1) - 1)
        return Ladder(
            self.grid, start_index=start, allowed_ratio=self.slo.allowed_over_ratio, stride=1,
            max_probes=self.plan.later_round_probes, confirm=False,
        )  # fmt: skip

    def _interleave(self, scenario: str, order: list[str], ladders: dict[str, Ladder]) -> None:
        """One step per framework in turn, A B B A A B ..., until every search is done."""
        pattern = order + order[::-1] if len(order) > 1 else order
        turn = 0
        while any(not ladders[fw].done for fw in order):
            framework = pattern[turn % len(pattern)]
            turn += 1
            probe = ladders[framework].next_probe()
            if probe is None:
                continue
            self._enter(framework, scenario)
            self._probe(framework, scenario, ladders[framework], probe)

    def _enter(self, framework: str, scenario: str) -> None:
        index = self.plan.combos().index((framework, scenario))
        if self._combo[1:] != (framework, scenario):
            self._combo = (index, framework, scenario)
            self._combo_started_s = self.clock.monotonic()
        if self._on_host != framework:
            # Users are built with their pods' URLs: a new framework starts a fresh swarm.
            with contextlib.suppress(TargetError):
                self.master.stop()
            self._on_host = framework

    def _ending(self, ladder: Ladder) -> str:
        lo, hi = ladder.interval_rps()
        where = f"round {self._round + 1}: " if self.plan.rounds > 1 else ""
        if lo is None:
            return where + "no grid rate met the SLO (the lowest rate tried failed)"
        if hi is None:
            return where + f"every rate tried met the SLO, up to {lo:g} req/s"
        if self._round > 0:
            # A later round's short search stops at its own one-step bracket: the model takes
            # each round's crossing, and the median over rounds.
            return where + f"bracket [{lo:g}, {hi:g}) req/s, this round's own"
        confirmed = "confirmed" if ladder.confirmed else "NOT confirmed (ran out of steps)"
        return where + f"bracket [{lo:g}, {hi:g}) req/s, {confirmed}"

    # -- load --------------------------------------------------------------------------------

    def _options(
        self, framework: str, scenario: str, *, step: int, rps: float, seed: int, key: str,
        cap: int,
    ) -> dict[str, str | int | float]:  # fmt: skip
        return {
            "fwcap_framework": framework,
            "fwcap_scenario": scenario,
            "fwcap_step": step,
            "fwcap_offered_rps": round(rps, 3),
            "fwcap_seed": seed,
            "fwcap_key": key,
            "fwcap_cap": cap,
            "fwcap_settle_s": self.plan.settle_s,
            "fwcap_workers": self.plan.locust_workers,
            "fwcap_upstream_delay_ms": self.plan.upstream_delay_ms,
            "fwcap_cpu_n": self.plan.cpu_n,
            "fwcap_slo_ms": self.slo.latency_ms,
        }

    def _swarm(self, framework: str, scenario: str, options: dict[str, str | int | float]) -> None:
        workers = self.plan.locust_workers
        self.master.swarm(
            scenario=scenario, users=workers, spawn_rate=workers,
            host=",".join(self.endpoints.service_urls[framework]), options=options,
        )  # fmt: skip

    def _stop_arrivals(self, framework: str, scenario: str, options: dict[str, Any]) -> None:
        self._swarm(framework, scenario, {**options, "fwcap_offered_rps": 0.0, "fwcap_key": ""})

    def _cap(self, rps: float) -> int:
        """In flight per Locust worker: at least `cap_s` seconds of arrivals."""
        total = max(self.plan.min_cap, math.ceil(rps * self.plan.cap_s))
        return math.ceil(total / self.plan.locust_workers)

    def _warm_up(self, framework: str, scenario: str) -> float:
        """Saturate the pods briefly; their completion rate is where the search starts."""
        pods = len(self.endpoints.service_urls[framework])
        key = f"{self.run_id}/{framework}/{scenario}/warm-up"
        cap = math.ceil(self.plan.warmup_cap_per_pod * pods / self.plan.locust_workers)
        options = self._options(framework, scenario, step=-1, rps=WARMUP_RPS, seed=self.plan.seed,
                                key=key, cap=cap)  # fmt: skip
        start = self.clock.monotonic()
        self._swarm(framework, scenario, options)
        self._wait_until(start + self.plan.warmup_s, "warm-up", None, None)
        self._stop_arrivals(framework, scenario, options)
        end = self.clock.time()
        client = self._collect(key, end)
        return client.achieved_rps if client is not None else 0.0

    def _drain(self) -> _Drain:
        """Until nothing is in flight at the generator and the pods' CPU is near idle."""
        started = self.clock.monotonic()
        deadline = started + DRAIN_TIMEOUT_S
        limit_cores = self.plan.cpu_millicores / 1000 * self.plan.replicas * len(
            self.plan.frameworks
        )  # fmt: skip
        in_flight: int | None = None
        busy_cores: float | None = None
        before = self.host_cpu()
        while True:
            try:
                in_flight = self.master.in_flight_now()
            except TargetError:
                in_flight = None
            self._wait_until(self.clock.monotonic() + 0.25, "step", None, None)
            after = self.host_cpu()
            busy_cores = _pods_cores(before, after)
            before = after
            idle = busy_cores is None or busy_cores < IDLE_SHARE * limit_cores
            if (in_flight == 0 or in_flight is None) and idle:
                return _Drain(self.clock.monotonic() - started, in_flight, None)
            if self.clock.monotonic() >= deadline:
                what = []
                if in_flight:
                    what.append(f"{in_flight} requests still in flight")
                if not idle:
                    what.append(f"the pods still used {busy_cores:.2f} cores")
                return _Drain(
                    self.clock.monotonic() - started,
                    in_flight,
                    f"not drained after {DRAIN_TIMEOUT_S:g} s: {', '.join(what)}",
                )

    def _window(
        self, framework: str, scenario: str, number: int, rps: float, options: dict[str, Any]
    ) -> tuple[ClientStep | None, float, float, float]:
        """One measured window on a fresh schedule: (tally, started, measured from, ended)."""
        key = str(options["fwcap_key"])
        started = self.clock.monotonic()
        started_wall = self.clock.time()
        self._swarm(framework, scenario, options)
        self._wait_until(started + self.plan.settle_s, "step", number, rps)
        measured_from = self.clock.time()
        self._wait_until(started + self.plan.step_duration_s, "step", number, rps)
        ended = self.clock.time()
        self._stop_arrivals(framework, scenario, options)
        return self._collect(key, ended), started_wall, measured_from, ended

    def _probe(self, framework: str, scenario: str, ladder: Ladder, probe: Probe) -> None:
        number = self._numbers.get((framework, scenario), 0)
        self._numbers[(framework, scenario)] = number + 1
        rps = self.grid.rps(probe.index)
        attempt = ladder.runs.get(probe.index, 0) + 1
        seed = step_seed(self.plan.seed, scenario, probe.index, attempt + 100 * self._round)
        key = f"{self.run_id}/{framework}/{scenario}/{number}"
        options = self._options(framework, scenario, step=number, rps=rps, seed=seed, key=key,
                                cap=self._cap(rps))  # fmt: skip
        drain = self._drain()
        speed, speed_note = self._core_speed()
        before = _Before(
            drain, speed, speed_note, self.support_probe(), self._request_cost(framework),
            self.host_cpu(),
        )  # fmt: skip
        client, started_wall, measured_from, ended = self._window(
            framework, scenario, number, rps, options
        )
        host_after = self.host_cpu()
        measured = [(measured_from, ended)]
        if client is not None and decide(self._counts(client), self.slo.allowed_over_ratio)\
                .decision == "undecided":  # fmt: skip
            # Once more, drained and on a schedule of its own, pooled with the first window.
            self._drain()
            more, _s, more_from, more_ended = self._window(
                framework, scenario, number, rps,
                {**options, "fwcap_key": key + "+", "fwcap_seed": seed + 1},
            )  # fmt: skip
            measured.append((more_from, more_ended))
            host_after = self.host_cpu()
            client = client + more if more is not None else client
        extended = len(measured) > 1
        window = _Window(started_wall, tuple(measured))
        self._wait_for_scrape(window.ended_s)
        # Each window read on its own: the drained gap between an extended step's two windows
        # is not the step's load (read as one span, it diluted the pod's CPU and served rate).
        metrics = pool([
            (read_step(
                self.prom, namespace=self.endpoints.namespace, framework=framework,
                end_s=to, window_s=max(1, round(to - since)),
            ), to - since)
            for since, to in measured
        ])  # fmt: skip
        record = self._record(
            framework, scenario, number, probe, attempt, seed, window, client, metrics,
            extended, before, host_after,
        )  # fmt: skip
        # The ladder sees what the model will see (capacity/slo.py decides for both).
        ladder.record(probe.index, step_counts(record, self.slo))
        append_record(self.measurements_path, record)
        self.result.records.append(record)
        self.order.append(framework)
        self._last_record = record
        self._emit("step", step=number, offered_rps=rps)

    def _core_speed(self) -> tuple[ProbeReading | None, str | None]:
        """The pods' core speed just before a step, and a note when it had to be read again.

        A reading further than `SPEED_TOLERANCE` off the median of the last `RECENT_READINGS`
        kept readings (three or more) is read again, up to `PROBE_RETRIES` times
        `PROBE_RETRY_PAUSE_S` apart: a dip of the host that passes costs a second, not the step
        (the model leaves a step out only when its last reading is still off the run's median).
        The recent readings, not the whole run's, so that once the host has changed speed for
        minutes the steps stop re-reading what is now the machine's speed.
        """
        reading = self.cpu_probe()
        recent = self._speeds[-RECENT_READINGS:]
        median = statistics.median(recent) if len(recent) >= 3 else None
        off: list[float] = []
        while reading is not None and median:
            deviation = reading.k_rounds_per_cpu_s / median - 1
            if abs(deviation) <= SPEED_TOLERANCE or len(off) == PROBE_RETRIES:
                break
            off.append(deviation)
            self._wait_until(self.clock.monotonic() + PROBE_RETRY_PAUSE_S, "step", None, None)
            reading = self.cpu_probe()
        if reading is not None:
            self._speeds.append(reading.k_rounds_per_cpu_s)
        if not off:
            return reading, None
        assert median is not None  # a reading is re-read only against a median
        last = (
            "no reading" if reading is None else f"{reading.k_rounds_per_cpu_s / median - 1:+.0%}"
        )
        return reading, (
            "core-speed probe read again: "
            + ", then ".join(f"{d:+.0%}" for d in off)
            + f", then {last} off the median of the recent readings"
        )

    def _request_cost(self, framework: str) -> float | None:
        """Pod CPU-seconds per request of a few sequential reads, while drained (where the
        target reads its pods' CPU counter: the local one; capacity/target/requestcost.py)."""
        urls = self.endpoints.service_urls.get(framework) or []
        if self.pods_cpu_s is None or not urls:
            return None
        return request_cost(urls[0], self.pods_cpu_s)

    def _counts(self, client: ClientStep | None) -> StepCounts:
        return client.counts(self.slo.latency_ms) if client is not None else StepCounts(0, 0)

    def _collect(self, key: str, ended_s: float) -> ClientStep | None:
        """The step's tally once its last requests are in (or `DRAIN_S` after its end).

        Workers report once a second: the first report after the end holds every arrival.
        Requests still in flight at the deadline stay counted as over the SLO.
        """
        self._wait_until(self.clock.monotonic() + 1.5, "step", None, None)
        deadline = self.clock.monotonic() + DRAIN_S - 1.5
        step: ClientStep | None = None
        while True:
            try:
                step = self.master.client_step(key)
            except TargetError:
                step = None
            if (step is not None and step.in_flight == 0) or self.clock.monotonic() >= deadline:
                return step
            self._wait_until(self.clock.monotonic() + 0.5, "step", None, None)

    def _wait_for_scrape(self, ended_s: float) -> None:
        delay = ended_s + self._query_delay_s - self.clock.time()
        if delay > 0:
            self._wait_until(self.clock.monotonic() + delay, "step", None, None)

    # -- the record --------------------------------------------------------------------------

    def _record(
        self, framework: str, scenario: str, number: int, probe: Probe, attempt: int, seed: int,
        w: _Window, client: ClientStep | None, m: StepMetrics, extended: bool, before: _Before,
        host_after: HostSample | None,
    ) -> MeasurementRecord:  # fmt: skip
        plan = self.plan
        pods = len(self.endpoints.service_urls[framework])
        counts = self._counts(client)
        generator = min(1.0, m.generator_cpu_cores_max)
        error_ratio = client.error_ratio if client is not None else 1.0
        host_ratio, pg_cores = _host_figures(before.host, host_after)
        contended = host_ratio is not None and host_ratio > 0.9
        requests, over = client.per_second() if client is not None else ((), ())
        fields: dict[str, Any] = {
            "requests": counts.requests,
            "over_slo_ratio": counts.ratio if counts.requests else 1.0,
            "error_ratio": min(1.0, max(0.0, error_ratio)),
            "generator_saturated": generator > plan.generator_saturation,
            "generator_cpu_ratio": generator,
            "send_lag_p99_ms": client.send_lag_p99_ms if client is not None else None,
        }
        judgement = judge(_Figures(**fields), self.slo)
        notes = [f"round {self._round + 1}, grid r{probe.index} {probe.purpose}, run {attempt}"]
        if before.drain.note:
            notes.append(before.drain.note)
        if before.speed_note:
            notes.append(before.speed_note)
        if extended:
            notes.append("measured twice (the first window was undecided), pooled")
        if contended:
            notes.append(f"contended: the non-pod cores were {host_ratio:.0%} busy")
        if m.pods and m.pods != pods:
            notes.append(f"Prometheus saw {m.pods} of {pods} pods")
        if client is not None and client.in_flight:
            notes.append(f"{client.in_flight} requests unfinished {DRAIN_S:g} s after the end")
        notes.append("meets the SLO" if judgement.passed else "; ".join(judgement.reasons))
        # Completions inside the window only: a queue served after it is not throughput.
        achieved = client.achieved_in_window_rps if client is not None else 0.0
        cps = (m.pod_cpu_cores * pods / m.achieved_rps) if m.achieved_rps > 0 else None
        pod_infos = self.endpoints.pods_of(framework)
        # The limits the pods ran with: a cluster's Deployment may set others than the plan.
        cpu_limit, memory_limit = (
            (pod_infos[0].cpu_limit_millicores, pod_infos[0].memory_limit_bytes)
            if pod_infos
            else (plan.cpu_millicores, plan.memory_bytes)
        )
        return MeasurementRecord(
            schema_version=SCHEMA_VERSION,
            run_id=self.run_id,
            target=self.target_kind,
            framework=framework,  # type: ignore[arg-type]
            scenario=scenario,
            step=number,
            offered_rps=self.grid.rps(probe.index),
            grid_index=probe.index,
            attempt=attempt,
            purpose=probe.purpose,
            seed=seed,
            achieved_rps=achieved,
            dropped=client.dropped if client is not None else 0,
            slo_latency_ms=self.slo.latency_ms,
            over_slo_lower=judgement.latency.lower,
            over_slo_upper=judgement.latency.upper,
            decision=judgement.decision,
            extended=extended,
            client_latency_p50_ms=client.percentile_ms(0.5) if client else None,
            client_latency_p95_ms=client.percentile_ms(0.95) if client else None,
            client_latency_p99_ms=client.percentile_ms(0.99) if client else None,
            latency_p50_ms=m.latency_p50_ms,
            latency_p95_ms=m.latency_p95_ms,
            latency_p99_ms=m.latency_p99_ms,
            cpu_seconds_per_request=cps,
            host_cpu_ratio=host_ratio,
            postgres_cpu_cores=pg_cores,
            contended=contended,
            pods=pods,
            pod_cpu_cores=m.pod_cpu_cores,
            pod_cpu_cores_max=m.pod_cpu_cores_max,
            pod_memory_working_set_bytes=m.pod_memory_working_set_bytes,
            pod_cpu_throttled_ratio=min(1.0, max(0.0, m.pod_cpu_throttled_ratio)),
            pod_cpu_limit_millicores=cpu_limit,
            pod_memory_limit_bytes=memory_limit,
            # The launcher's contract, on the limit the pods ran with (a cluster's may differ).
            workers=replace(plan.pod_shape(), cpu_millicores=cpu_limit).effective_workers(),
            threads=(plan.threads or DJANGO_THREADS) if framework.startswith("django") else None,
            limits_enforced=bool(pod_infos) and all(p.limits_enforced for p in pod_infos),
            started_at=datetime.fromtimestamp(w.started_s, tz=UTC),
            ended_at=datetime.fromtimestamp(w.ended_s, tz=UTC),
            duration_s=max(0.001, w.measured_s),
            measured_windows=[
                (datetime.fromtimestamp(since, tz=UTC), datetime.fromtimestamp(to, tz=UTC))
                for since, to in w.measured
            ],
            note="; ".join(notes),
            round_index=self._round,
            in_flight_at_start=before.drain.in_flight_at_start,
            drain_s=round(before.drain.waited_s, 3),
            cpu_speed=before.speed.k_rounds_per_cpu_s if before.speed is not None else None,
            support_cpu_speed=(
                before.support_speed.k_rounds_per_cpu_s
                if before.support_speed is not None
                else None
            ),
            request_probe_cpu_s=before.request_cost_s,
            pod_core_foreign_cores=foreign_pod_core_cores(before.host, host_after),
            over_slo_by_request=(
                dict(sorted(client.by_name.items())) if client is not None else {}
            ),
            batch_requests=list(requests),
            batch_over_slo=list(over),
            **fields,
        )

    # -- waiting and progress ----------------------------------------------------------------

    def _locust_stats(self) -> LocustStats | None:
        try:
            return self.master.stats()
        except TargetError:
            return None

    def _wait_until(
        self, deadline: float, phase: Phase, step: int | None, offered: float | None
    ) -> None:
        """Sleep until `deadline` (monotonic), checking the pods and reporting progress."""
        next_report = 0.0
        while True:
            self.check_pods()
            now = self.clock.monotonic()
            if now >= deadline:
                return
            if now >= next_report and step is not None:
                stats = self._locust_stats()
                self._emit(
                    phase, step=step, offered_rps=offered,
                    live_rps=stats.current_rps if stats else None,
                    live_p95_ms=stats.current_p95_ms if stats else None,
                )  # fmt: skip
                next_report = now + 1.0
            self.clock.sleep(min(0.25, deadline - now))

    def _emit(
        self,
        phase: Phase,
        *,
        step: int | None = None,
        offered_rps: float | None = None,
        live_rps: float | None = None,
        live_p95_ms: float | None = None,
        message: str | None = None,
    ) -> None:
        index, framework, scenario = self._combo
        combos = len(self.plan.combos())
        done = sum(1 for key in self.result.endings)
        self.on_progress(
            Progress(
                framework=framework,
                scenario=scenario,
                phase=phase,
                scenario_index=index,
                scenarios_total=combos,
                step=step,
                offered_rps=offered_rps,
                live_rps=live_rps,
                live_p95_ms=live_p95_ms,
                last_record=self._last_record,
                eta_s=eta_s(
                    remaining_scenarios=max(0, combos - done - 1),
                    per_scenario_s=self.plan.scenario_estimate_s(),
                    current_elapsed_s=self.clock.monotonic() - self._combo_started_s,
                ),
                message=message,
            )
        )


@dataclass(frozen=True)
class _Figures:
    """A step's figures before its record exists, for capacity/slo.py's judgement."""

    requests: int
    over_slo_ratio: float
    error_ratio: float
    generator_saturated: bool
    generator_cpu_ratio: float
    send_lag_p99_ms: float | None


def _pods_cores(before: HostSample | None, after: HostSample | None) -> float | None:
    """Mean cores the pods used between two samples (None: not known here)."""
    if before is None or after is None or before.pods_s is None or after.pods_s is None:
        return None
    wall = after.wall_s - before.wall_s
    return max(0.0, after.pods_s - before.pods_s) / wall if wall > 0 else None


def _host_figures(
    before: HostSample | None, after: HostSample | None
) -> tuple[float | None, float | None]:
    """(busy share of the non-pod cores, PostgreSQL's mean cores) between two samples."""
    if before is None or after is None or after.total_s <= before.total_s:
        return None, None
    ratio = (after.busy_s - before.busy_s) / (after.total_s - before.total_s)
    pg = None
    wall = after.wall_s - before.wall_s
    if before.postgres_s is not None and after.postgres_s is not None and wall > 0:
        pg = max(0.0, after.postgres_s - before.postgres_s) / wall
    return min(1.0, max(0.0, ratio)), pg
