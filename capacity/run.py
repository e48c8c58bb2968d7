"""One capacity run: plan -> target -> load -> metrics -> measurements JSONL.

For each framework x scenario: a warm-up at full throttle (which also measures the ceiling the
ladder is placed around), then fixed-rate steps. Each step's figures are read from Prometheus
for the step's steady part and appended to the JSONL at once; the scenario stops at the first
step that breaks the SLO (or `stop_after_failures` in a row). To lose no time, the next step's
load starts while the previous step is queried: the query is evaluated at the previous step's
end, so the new load cannot leak into it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from capacity import interrupts
from capacity.errors import TargetError
from capacity.interrupts import signals_deferred
from capacity.load.driver import LocustMaster, LocustStats
from capacity.load.steps import eta_s, ladder_rps, users_for
from capacity.measurements import SCHEMA_VERSION, MeasurementRecord, append_record
from capacity.metrics import queries as q
from capacity.metrics.client import PromQuery, StepMetrics, connect, read_step
from capacity.model import Slo, judge_step
from capacity.plan import Plan
from capacity.target.base import Endpoints

Phase = Literal["warm-up", "step", "scenario-done"]
# Times a scenario may halve its ladder when even its first step fails the SLO.
MAX_REBASES = 2


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
    # (framework, scenario) -> why its ladder ended
    endings: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Step:
    step: int
    offered_rps: float
    users: int
    user_rps: float
    started_s: float
    ended_s: float
    locust: LocustStats | None


def plan_slo(plan: Plan) -> Slo:
    return Slo(
        latency_ms=plan.slo_p95_ms,
        percentile="p95",
        max_error_ratio=plan.error_budget,
        min_achieved_ratio=plan.min_achieved_ratio,
    )


class Clock(Protocol):
    """Time as the run sees it (a test passes a fake that advances on sleep)."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


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
        self.master = master or LocustMaster(endpoints.locust_url)
        self.slo = plan_slo(plan)
        self.result = RunResult()
        self._combo = (0, "", "")  # index, framework, scenario
        self._combo_started_s = self.clock.monotonic()
        self._last_record: MeasurementRecord | None = None
        self._query_delay_s = plan.scrape_interval_s + 0.7

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> RunResult:
        combos = self.plan.combos()
        try:
            for index, (framework, scenario) in enumerate(combos):
                self._combo = (index, framework, scenario)
                self._combo_started_s = self.clock.monotonic()
                self._last_record = None
                ending = self._scenario(framework, scenario)
                self.result.endings[(framework, scenario)] = ending
                self._emit("scenario-done", message=f"{framework} {scenario}: {ending}")
        finally:
            with contextlib.suppress(TargetError):
                self.master.stop()
        return self.result

    def _options(
        self, framework: str, scenario: str, *, step: int, offered_rps: float, user_rps: float
    ) -> dict[str, str | int | float]:
        return {
            "fwcap_framework": framework,
            "fwcap_scenario": scenario,
            "fwcap_step": step,
            "fwcap_offered_rps": round(offered_rps, 3),
            "fwcap_user_rps": round(user_rps, 6),
            "fwcap_upstream_delay_ms": self.plan.upstream_delay_ms,
            "fwcap_cpu_n": self.plan.cpu_n,
        }

    def _scenario(self, framework: str, scenario: str) -> str:
        urls = self.endpoints.service_urls[framework]
        pods = len(urls)
        host = ",".join(urls)
        plan = self.plan

        # Warm-up at full throttle; its steady rate is the ceiling the ladder is placed around.
        users = plan.warmup_users_per_pod * pods
        warm_start = self.clock.monotonic()
        self.master.swarm(
            scenario=scenario, users=users, spawn_rate=users, host=host,
            options=self._options(framework, scenario, step=-1, offered_rps=0, user_rps=0),
        )  # fmt: skip
        self._wait_until(warm_start + plan.warmup_s, "warm-up", None, None)
        warm_end_wall = self.clock.time()
        self._wait_until(self.clock.monotonic() + self._query_delay_s, "warm-up", None, None)
        ceiling = self._achieved_rps(framework, warm_end_wall, int(plan.warmup_s - plan.settle_s))
        # Steps start from a fresh swarm: Locust stops surplus users in no particular order,
        # which would leave the pods unevenly loaded. From here on users are only added (the
        # ladder only climbs), and user i always talks to pod i mod n, so the split stays even.
        self.master.stop()
        if not plan.steps_rps and ceiling <= 0:
            return "no request succeeded during the warm-up; see the pod logs"

        pending: _Step | None = None
        failures = 0
        passed_any = False
        rebases = 0
        users_now = 0
        rung = 0  # position on the ladder
        number = 0  # the next step's number: steps run to the end are numbered 0, 1, ...
        ending = f"reached the last planned step ({plan.max_steps} at most)"
        try:
            for attempt in range(plan.max_steps + MAX_REBASES):
                rps = ladder_rps(
                    rung, ceiling_rps=ceiling, fractions=plan.ladder,
                    extend_factor=plan.extend_factor, explicit_rps=plan.steps_rps,
                )  # fmt: skip
                if rps is None or attempt - rebases >= plan.max_steps:
                    ending = "reached the last planned step"
                    break
                users, user_rps = users_for(rps, max_user_rps=plan.user_rps, pods=pods)
                if users < users_now:
                    # Fewer users: start afresh, so the users left are still spread evenly.
                    self.master.stop()
                started = self.clock.monotonic()
                started_wall = self.clock.time()
                self.master.swarm(
                    scenario=scenario, users=users, spawn_rate=users, host=host,
                    options=self._options(
                        framework, scenario, step=number, offered_rps=rps, user_rps=user_rps
                    ),
                )  # fmt: skip
                users_now = users
                rung += 1
                if pending is not None:
                    self._wait_until(started + self._query_delay_s, "step", number, rps)
                    record, ok = self._measure(framework, scenario, pending, pods, ceiling)
                    pending = None
                    passed_any |= ok
                    failures = 0 if ok else failures + 1
                    if not ok and not passed_any and not plan.steps_rps and rebases < MAX_REBASES:
                        # Even the first step failed: the warm-up overestimated the ceiling.
                        # Drop the step just started, halve the ceiling and climb again.
                        rebases += 1
                        failures = 0
                        ceiling /= 2
                        rung = 0
                        continue
                    if failures >= plan.stop_after_failures:
                        ending = f"stopped after step {record.step}: {record.note}"
                        break
                self._wait_until(started + plan.settle_s, "step", number, rps)
                self.master.reset_stats()
                self._wait_until(started + plan.step_duration_s, "step", number, rps)
                ended_wall = started_wall + (self.clock.monotonic() - started)
                pending = _Step(
                    number, rps, users, user_rps, started_wall, ended_wall, self._locust_stats()
                )
                number += 1
            if pending is not None:
                self._wait_until(
                    self.clock.monotonic() + self._query_delay_s, "step", pending.step, None
                )
                record, ok = self._measure(framework, scenario, pending, pods, ceiling)
                pending = None
                if not ok:
                    ending = f"stopped after step {record.step}: {record.note}"
        except KeyboardInterrupt:
            # The step that just ended is measured data: keep it if Prometheus has it already.
            if pending is not None and self.clock.time() >= pending.ended_s + self._query_delay_s:
                with signals_deferred(), contextlib.suppress(Exception):
                    self._measure(framework, scenario, pending, pods, ceiling)
            raise
        self.master.stop()
        return ending

    # -- measuring ---------------------------------------------------------------------------

    def _achieved_rps(self, framework: str, end_s: float, window_s: int) -> float:
        scope = q.Scope.concrete(
            namespace=self.endpoints.namespace, framework=framework, window_s=max(1, window_s)
        )
        result = self.prom.custom_query(
            q.ACHIEVED_RPS.render(scope), params={"time": f"{end_s:.3f}"}
        )
        try:
            return float(result[0]["value"][1]) if result else 0.0
        except (KeyError, IndexError, ValueError):
            return 0.0

    def _measure(
        self, framework: str, scenario: str, s: _Step, pods: int, ceiling: float
    ) -> tuple[MeasurementRecord, bool]:
        window = max(1, int(s.ended_s - s.started_s - self.plan.settle_s))
        m = read_step(
            self.prom, namespace=self.endpoints.namespace, framework=framework,
            end_s=s.ended_s, window_s=window,
        )  # fmt: skip
        record = self._record(framework, scenario, s, m, pods, ceiling)
        verdict = judge_step(record, self.slo)
        note = f"{record.note}; " if record.note else ""
        record = record.model_copy(
            update={
                "note": note + ("meets the SLO" if verdict.valid else "; ".join(verdict.reasons))
            }
        )
        append_record(self.measurements_path, record)
        self.result.records.append(record)
        self._last_record = record
        self._emit("step", step=s.step, offered_rps=s.offered_rps)
        return record, verdict.valid

    def _record(
        self, framework: str, scenario: str, s: _Step, m: StepMetrics, pods: int, ceiling: float
    ) -> MeasurementRecord:
        plan = self.plan
        client_fail = s.locust.fail_ratio if s.locust else 0.0
        generator = min(1.0, m.generator_cpu_cores_max)
        notes = [
            f"{s.users} users x {s.user_rps:.2f} req/s"
            + (f", warm-up ceiling {ceiling:.0f} req/s" if ceiling > 0 else "")
        ]
        if client_fail > m.error_ratio:
            notes.append(
                f"generator saw {client_fail:.1%} failed requests (server 5xx {m.error_ratio:.1%})"
            )
        if m.pods and m.pods != pods:
            notes.append(f"Prometheus saw {m.pods} of {pods} pods")
        pod_infos = self.endpoints.pods_of(framework)
        return MeasurementRecord(
            schema_version=SCHEMA_VERSION,
            run_id=self.run_id,
            target=self.target_kind,
            framework=framework,  # type: ignore[arg-type]
            scenario=scenario,
            step=s.step,
            offered_rps=s.offered_rps,
            achieved_rps=m.achieved_rps,
            latency_p50_ms=m.latency_p50_ms,
            latency_p95_ms=m.latency_p95_ms,
            latency_p99_ms=m.latency_p99_ms,
            # Server 5xx and generator-side failures (timeouts, resets) both break the budget.
            error_ratio=min(1.0, max(m.error_ratio, client_fail)),
            pods=pods,
            pod_cpu_cores=m.pod_cpu_cores,
            pod_cpu_cores_max=m.pod_cpu_cores_max,
            pod_memory_working_set_bytes=m.pod_memory_working_set_bytes,
            pod_cpu_throttled_ratio=min(1.0, max(0.0, m.pod_cpu_throttled_ratio)),
            generator_cpu_ratio=generator,
            generator_saturated=generator > plan.generator_saturation,
            pod_cpu_limit_millicores=plan.cpu_millicores,
            pod_memory_limit_bytes=plan.memory_bytes,
            workers=plan.pod_shape().effective_workers(),
            threads=(plan.threads or 4) if framework == "django" else None,
            limits_enforced=bool(pod_infos) and all(p.limits_enforced for p in pod_infos),
            started_at=datetime.fromtimestamp(s.started_s, tz=UTC),
            ended_at=datetime.fromtimestamp(s.ended_s, tz=UTC),
            duration_s=max(0.001, s.ended_s - s.started_s),
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
            if now >= next_report:
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
                    remaining_scenarios=combos - index - 1,
                    per_scenario_s=self.plan.scenario_estimate_s(),
                    current_elapsed_s=self.clock.monotonic() - self._combo_started_s,
                ),
                message=message,
            )
        )
