"""The plan profile for a cluster: steps long enough for the kubelet's cAdvisor to be seen.

A kubelet's cAdvisor refreshes container CPU and memory every 10 s (its housekeeping interval),
whatever Prometheus' scrape interval; a rate over a 5 s window of such data is noise or empty.
So in cluster mode a step's measuring window (step minus settle) spans at least
`SAMPLES_PER_WINDOW` cAdvisor refreshes, and the run waits a refresh plus a scrape before
reading a finished step. The refresh is 10 s unless measured from the data (`changes()` of
the pods' CPU counters), which the target does once Prometheus is reachable, before any load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from capacity.errors import ConfigError
from capacity.plan import Plan

DEFAULT_CADVISOR_REFRESH_S = 10.0
SAMPLES_PER_WINDOW = 3
MAX_SCRAPE_WAIT_S = 15  # the plan's upper bound on scrape_interval_s


@dataclass(frozen=True)
class ClusterTiming:
    cadvisor_refresh_s: float
    scrape_interval_s: float
    measured: bool  # the refresh was measured from the data, not assumed

    @property
    def sample_interval_s(self) -> float:
        """How often a new cAdvisor value can appear in Prometheus."""
        return max(self.cadvisor_refresh_s, self.scrape_interval_s)

    def min_step_s(self, settle_s: float) -> float:
        return float(math.ceil(settle_s + SAMPLES_PER_WINDOW * self.sample_interval_s))

    @property
    def query_wait_s(self) -> int:
        """The plan's scrape_interval_s: what the run waits before reading a finished step."""
        return min(MAX_SCRAPE_WAIT_S, math.ceil(self.cadvisor_refresh_s + self.scrape_interval_s))


def cluster_plan(plan: Plan, timing: ClusterTiming, *, step_given: bool) -> Plan:
    """The plan with cluster timing; a step the user set too short is an error, not a silent fix."""
    need = timing.min_step_s(plan.settle_s)
    step = plan.step_duration_s
    if step < need:
        if step_given:
            how = "measured from the data" if timing.measured else "the kubelet default"
            raise ConfigError(
                f"--step-duration {step:g} is too short for a cluster: cAdvisor refreshes every "
                f"{timing.cadvisor_refresh_s:g} s ({how}) and Prometheus scrapes every "
                f"{timing.scrape_interval_s:g} s, so a step needs {plan.settle_s:g} s settle + "
                f"{SAMPLES_PER_WINDOW} samples = at least {need:g} s; use --step-duration {need:g}"
            )
        step = need
    wait = timing.query_wait_s
    warmup = max(plan.warmup_s, plan.settle_s + 2 * wait + 1)
    values = plan.model_dump() | {
        "step_duration_s": step, "scrape_interval_s": wait, "warmup_s": warmup,
    }  # fmt: skip
    try:
        return Plan.model_validate(values)
    except ValueError as e:
        raise ConfigError(f"the cluster profile made an invalid plan: {e}") from e


def refresh_from_changes(changes: Sequence[float], window_s: float) -> float | None:
    """cAdvisor's refresh from `changes(counter[window])` per series: window / median changes."""
    counts = sorted(c for c in changes if c > 0)
    if not counts:
        return None
    median = counts[len(counts) // 2]
    return window_s / median


def measure_refresh(prom: Any, namespace: str, window_s: int = 120) -> float | None:
    """The refresh seen in the last `window_s` of the namespace's CPU counters, if there are any."""
    expr = (
        f'changes(container_cpu_usage_seconds_total{{namespace="{namespace}", '
        f'container!="", container!="POD"}}[{window_s}s])'
    )
    try:
        result = prom.custom_query(expr)
    except Exception:  # no data is the answer "not measurable", never a failed run
        return None
    values = []
    for series in result:
        try:
            values.append(float(series["value"][1]))
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    return refresh_from_changes(values, window_s)


def scrape_interval_of(targets: Sequence[dict[str, Any]]) -> float | None:
    """The longest scrapeInterval among the given /api/v1/targets entries ("5s", "1m")."""
    seconds = []
    for t in targets:
        raw = str(t.get("scrapeInterval", ""))
        number, unit = raw[:-1], raw[-1:]
        scale = {"s": 1, "m": 60, "h": 3600}.get(unit)
        if scale and number.replace(".", "", 1).isdigit():
            seconds.append(float(number) * scale)
    return max(seconds, default=None)
