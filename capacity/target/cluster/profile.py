"""The plan profile for a cluster: steps long enough for the kubelet's cAdvisor to be seen.

A kubelet's cAdvisor refreshes container CPU and memory every 10 s (its housekeeping interval),
whatever Prometheus' scrape interval; a rate over a 5 s window of such data is noise or empty.
So in cluster mode a step's measuring window (step minus settle) spans at least
`SAMPLES_PER_WINDOW` cAdvisor refreshes, and the run waits one refresh (or scrape, if longer)
before reading a finished step. The refresh is 10 s unless measured from the data (`changes()` of
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
        """The plan's scrape_interval_s: the run reads a finished step this long (+0.7 s) after
        its end, by when a refresh taken before the end has been scraped."""
        return min(MAX_SCRAPE_WAIT_S, math.ceil(self.sample_interval_s))


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
        "step_duration_s": step,
        "scrape_interval_s": wait,
        "warmup_s": warmup,
    }
    try:
        return Plan.model_validate(values)
    except ValueError as e:
        raise ConfigError(f"the cluster profile made an invalid plan: {e}") from e


def refresh_from_counts(series: Sequence[tuple[float, float]], scrape_s: float) -> float | None:
    """cAdvisor's refresh from (samples, changes) per counter series over one window.

    n samples a scrape apart span (n - 1) scrapes; a counter that changed c times in that span
    was refreshed every (n - 1) * scrape / c seconds. The median over series is taken.
    """
    ratios = sorted((n - 1) * scrape_s / c for n, c in series if c > 0 and n > 1)
    if not ratios:
        return None
    return ratios[len(ratios) // 2]


def measure_refresh(
    prom: Any, namespace: str, scrape_s: float, window_s: int = 120
) -> float | None:
    """The refresh seen in the namespace's CPU counters (None when there are no data yet)."""
    selector = (
        f'container_cpu_usage_seconds_total{{namespace="{namespace}", container!="", '
        f'container!="POD"}}[{window_s}s]'
    )

    def per_series(expr: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for series in prom.custom_query(expr):
            key = repr(sorted(series.get("metric", {}).items()))
            out[key] = float(series["value"][1])
        return out

    try:
        samples = per_series(f"count_over_time({selector})")
        changes = per_series(f"changes({selector})")
    except Exception:  # no data is the answer "not measurable", never a failed run
        return None
    return refresh_from_counts(
        [(samples[k], changes[k]) for k in samples if k in changes], scrape_s
    )


def fit_to_prometheus(
    plan: Plan,
    prom: Any,
    namespace: str,
    scrape_intervals: Sequence[str],
    *,
    step_given: bool,
) -> tuple[ClusterTiming, Plan]:
    """Measure the refresh (before any load) and return the timing and the fitted plan."""
    scrape = scrape_interval_of([{"scrapeInterval": i} for i in scrape_intervals])
    scrape = scrape or float(plan.scrape_interval_s)
    measured = measure_refresh(prom, namespace, scrape)
    timing = ClusterTiming(
        cadvisor_refresh_s=measured if measured is not None else DEFAULT_CADVISOR_REFRESH_S,
        scrape_interval_s=scrape,
        measured=measured is not None,
    )
    return timing, cluster_plan(plan, timing, step_given=step_given)


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


def describe_timing(timing: ClusterTiming, plan: Plan) -> str:
    how = "measured" if timing.measured else "assumed: no data yet"
    return (
        f"cAdvisor refresh {timing.cadvisor_refresh_s:.1f} s ({how}), scrape every "
        f"{timing.scrape_interval_s:g} s: steps of {plan.step_duration_s:g} s, reading each "
        f"{plan.scrape_interval_s} s after it ends"
    )
