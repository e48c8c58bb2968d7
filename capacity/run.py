"""One capacity run: plan -> target -> load -> metrics -> measurements JSONL.

Per scenario, each framework is searched with a `Ladder` (capacity/load/ladder.py: which grid
rate next, and what a step's counts decide), then both are confirmed interleaved (A B B A).
This module only does the I/O: it drives the Locust master (open arrivals at the grid rate),
waits, reads the generator's per-step tally and Prometheus, and appends one record per step
to the JSONL as soon as the step is decided, so a crash or Ctrl-C loses nothing measured.

The frameworks alternate which goes first from one scenario to the next, so neither is always
measured on a cooler (or warmer) machine.
"""

from __future__ import annotations

import contextlib
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from capacity import interrupts
from capacity.errors import TargetError
from capacity.frameworks import DJANGO_THREADS
from capacity.load.client_stats import ClientStep
from capacity.load.driver import LocustMaster, LocustStats
from capacity.load.ladder import Ladder, Probe, RateGrid, StepCounts, Verdict, decide
from capacity.load.steps import eta_s, step_counts
from capacity.measurements import SCHEMA_VERSION, MeasurementRecord, append_record
from capacity.metrics.client import PromQuery, StepMetrics, connect, read_step
from capacity.model import Slo
from capacity.plan import Plan
from capacity.target.base import Endpoints
from capacity.target.hostcpu import HostSample

Phase = Literal["warm-up", "step", "scenario-done"]
# A warm-up offers far more than any pod serves; the in-flight cap turns it into a saturating
# closed loop whose completion rate is the ceiling the search starts from.
WARMUP_RPS = 1000.0
# How long after a step's end its last requests may still finish before they count as late.
DRAIN_S = 5.0


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
    measured_from_s: float  # wall clock: the measuring window
    ended_s: float


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
        self.slo = plan_slo(plan)
        self.grid = plan_grid(plan)
        self.result = RunResult()
        self._combo = (0, "", "")  # index, framework, scenario
        self._combo_started_s = self.clock.monotonic()
        self._last_record: MeasurementRecord | None = None
        self._query_delay_s = plan.scrape_interval_s + 0.7
        self._numbers: dict[tuple[str, str], int] = {}
        self._on_host = ""  # the framework the generator currently loads

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> RunResult:
        try:
            for s_index, scenario in enumerate(self.plan.scenarios):
                order = frameworks_order(list(self.plan.frameworks), s_index)
                ladders: dict[str, Ladder] = {}
                for framework in order:
                    self._enter(framework, scenario)
                    ladders[framework] = self._search(framework, scenario)
                # Confirm interleaved, A B B A: drift in the machine hits both alike.
                sequence = order + order[::-1] if len(order) == 2 else order * 2
                for framework in sequence:
                    probe = ladders[framework].next_probe()
                    if probe is not None:
                        self._enter(framework, scenario)
                        self._probe(framework, scenario, ladders[framework], probe)
                # A confirmation that flipped its verdict: that framework's search goes on.
                for framework in order:
                    if not ladders[framework].done:
                        self._enter(framework, scenario)
                        while (probe := ladders[framework].next_probe()) is not None:
                            self._probe(framework, scenario, ladders[framework], probe)
                for framework in order:
                    ending = self._ending(ladders[framework])
                    self.result.endings[(framework, scenario)] = ending
                    self._combo = (self._combo[0], framework, scenario)
                    self._emit("scenario-done", message=f"{framework} {scenario}: {ending}")
        finally:
            with contextlib.suppress(TargetError):
                self.master.stop()
        return self.result

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
        if lo is None:
            return "no grid rate met the SLO (the lowest rate tried failed)"
        if hi is None:
            return f"every rate tried met the SLO, up to {lo:g} req/s"
        confirmed = "confirmed" if ladder.confirmed else "NOT confirmed (ran out of steps)"
        return f"capacity in [{lo:g}, {hi:g}) req/s, {confirmed}"

    def _search(self, framework: str, scenario: str) -> Ladder:
        ceiling = self._warm_up(framework, scenario)
        start = self.grid.index_at_or_below(self.plan.start_fraction * ceiling)
        ladder = Ladder(
            self.grid, start_index=start, allowed_ratio=self.plan.allowed_over_slo_ratio,
            stride=self.plan.stride, max_probes=self.plan.max_probes,
        )  # fmt: skip
        while (probe := ladder.next_probe()) is not None and not probe.purpose.startswith(
            "confirm"
        ):
            self._probe(framework, scenario, ladder, probe)
        return ladder

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
        }

    def _swarm(self, framework: str, scenario: str, options: dict[str, str | int | float]) -> None:
        workers = self.plan.locust_workers
        self.master.swarm(
            scenario=scenario, users=workers, spawn_rate=workers,
            host=",".join(self.endpoints.service_urls[framework]), options=options,
        )  # fmt: skip

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
        self._swarm(framework, scenario, {**options, "fwcap_offered_rps": 0.0, "fwcap_key": ""})
        end = self.clock.time()
        client = self._collect(key, end)
        return client.achieved_rps if client is not None else 0.0

    def _probe(self, framework: str, scenario: str, ladder: Ladder, probe: Probe) -> None:
        number = self._numbers.get((framework, scenario), 0)
        self._numbers[(framework, scenario)] = number + 1
        rps = self.grid.rps(probe.index)
        attempt = ladder.runs.get(probe.index, 0) + 1
        seed = step_seed(self.plan.seed, scenario, probe.index, attempt)
        key = f"{self.run_id}/{framework}/{scenario}/{number}"
        options = self._options(framework, scenario, step=number, rps=rps, seed=seed, key=key,
                                cap=self._cap(rps))  # fmt: skip
        started = self.clock.monotonic()
        started_wall = self.clock.time()
        self._swarm(framework, scenario, options)
        self._wait_until(started + self.plan.settle_s, "step", number, rps)
        measured_from = self.clock.time()
        host_before = self.host_cpu()
        self._wait_until(started + self.plan.step_duration_s, "step", number, rps)
        host_after = self.host_cpu()
        ended = self.clock.time()
        # The same rate and seed keep the schedule going; an empty key stops the tally.
        self._swarm(framework, scenario, {**options, "fwcap_key": ""})
        client = self._collect(key, ended)
        counts = self._counts(client)
        verdict = decide(counts, self.plan.allowed_over_slo_ratio)
        extended = False
        if verdict.decision == "undecided" and client is not None:
            # Extend once: a second window at the same rate, pooled with the first.
            extended = True
            key2 = key + "+"
            ext_start = self.clock.monotonic()
            self._swarm(framework, scenario, {**options, "fwcap_key": key2})
            self._wait_until(ext_start + self.plan.window_s, "step", number, rps)
            host_after = self.host_cpu()
            ended = self.clock.time()
            self._swarm(framework, scenario, {**options, "fwcap_key": ""})
            more = self._collect(key2, ended)
            client = client + more if more is not None else client
            counts = self._counts(client)
        window = _Window(started_wall, measured_from, ended)
        self._wait_for_scrape(ended)
        metrics = read_step(
            self.prom, namespace=self.endpoints.namespace, framework=framework,
            end_s=ended, window_s=max(1, round(ended - measured_from)),
        )  # fmt: skip
        record = self._record(
            framework, scenario, number, probe, attempt, seed, window, client, metrics,
            extended, host_before, host_after,
        )  # fmt: skip
        # The ladder sees what the model will see (errors over budget or a saturated generator
        # make a step fail whatever its latency).
        ladder.record(probe.index, step_counts(record, self.plan.allowed_over_slo_ratio))
        append_record(self.measurements_path, record)
        self.result.records.append(record)
        self._last_record = record
        self._emit("step", step=number, offered_rps=rps)

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
        w: _Window, client: ClientStep | None, m: StepMetrics, extended: bool,
        host_before: HostSample | None, host_after: HostSample | None,
    ) -> MeasurementRecord:  # fmt: skip
        plan = self.plan
        pods = len(self.endpoints.service_urls[framework])
        counts = self._counts(client)
        verdict: Verdict = decide(counts, plan.allowed_over_slo_ratio, final=True)
        generator = min(1.0, m.generator_cpu_cores_max)
        saturated = generator > plan.generator_saturation
        error_ratio = client.error_ratio if client is not None else 1.0
        host_ratio, pg_cores = _host_figures(host_before, host_after)
        contended = host_ratio is not None and host_ratio > 0.9
        reasons = []
        if verdict.decision == "fail":
            reasons.append(
                f"{verdict.ratio:.1%} of requests over {self.slo.latency_ms:g} ms, failed or "
                f"dropped (95% bound [{verdict.lower:.1%}, {verdict.upper:.1%}]) > "
                f"{plan.allowed_over_slo_ratio:.0%}"
            )
        if error_ratio > plan.error_budget:
            reasons.append(f"errors {error_ratio:.2%} > budget {plan.error_budget:.2%}")
        if saturated:
            reasons.append(f"load generator saturated (CPU {generator:.0%})")
        notes = [f"grid r{probe.index} {probe.purpose}, run {attempt}"]
        if extended:
            notes.append("extended once (first window undecided)")
        if contended:
            notes.append(f"contended: the non-pod cores were {host_ratio:.0%} busy")
        if m.pods and m.pods != pods:
            notes.append(f"Prometheus saw {m.pods} of {pods} pods")
        if client is not None and client.in_flight:
            notes.append(f"{client.in_flight} requests unfinished {DRAIN_S:g} s after the end")
        decision: Literal["pass", "fail"] = "fail" if reasons else "pass"
        notes.append("meets the SLO" if decision == "pass" else "; ".join(reasons))
        cps = (m.pod_cpu_cores * pods / m.achieved_rps) if m.achieved_rps > 0 else None
        pod_infos = self.endpoints.pods_of(framework)
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
            achieved_rps=client.achieved_rps if client is not None else 0.0,
            requests=counts.requests,
            dropped=client.dropped if client is not None else 0,
            slo_latency_ms=self.slo.latency_ms,
            over_slo_ratio=verdict.ratio if counts.requests else 1.0,
            over_slo_lower=verdict.lower,
            over_slo_upper=verdict.upper,
            decision=decision,
            extended=extended,
            client_latency_p50_ms=client.percentile_ms(0.5) if client else None,
            client_latency_p95_ms=client.percentile_ms(0.95) if client else None,
            client_latency_p99_ms=client.percentile_ms(0.99) if client else None,
            latency_p50_ms=m.latency_p50_ms,
            latency_p95_ms=m.latency_p95_ms,
            latency_p99_ms=m.latency_p99_ms,
            error_ratio=min(1.0, max(0.0, error_ratio)),
            cpu_seconds_per_request=cps,
            host_cpu_ratio=host_ratio,
            postgres_cpu_cores=pg_cores,
            contended=contended,
            pods=pods,
            pod_cpu_cores=m.pod_cpu_cores,
            pod_cpu_cores_max=m.pod_cpu_cores_max,
            pod_memory_working_set_bytes=m.pod_memory_working_set_bytes,
            pod_cpu_throttled_ratio=min(1.0, max(0.0, m.pod_cpu_throttled_ratio)),
            generator_cpu_ratio=generator,
            generator_saturated=saturated,
            pod_cpu_limit_millicores=plan.cpu_millicores,
            pod_memory_limit_bytes=plan.memory_bytes,
            workers=plan.pod_shape().effective_workers(),
            threads=(plan.threads or DJANGO_THREADS) if framework.startswith("django") else None,
            limits_enforced=bool(pod_infos) and all(p.limits_enforced for p in pod_infos),
            started_at=datetime.fromtimestamp(w.started_s, tz=UTC),
            ended_at=datetime.fromtimestamp(w.ended_s, tz=UTC),
            duration_s=max(0.001, w.ended_s - w.measured_from_s),
            note="; ".join(notes),
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
