"""The plan profile for a cluster: steps long enough for the kubelet's cAdvisor to be seen.

A kubelet's cAdvisor refreshes container CPU and memory every 10 s (its housekeeping interval),
whatever Prometheus' scrape interval; a rate over a 5 s window of such data is noise or empty.
So in cluster mode a step's measuring window (step minus settle) spans at least
`SAMPLES_PER_WINDOW` cAdvisor refreshes, and the run waits one refresh (or scrape, if longer)
before reading a finished step. The refresh is measured once Prometheus is reachable, before any
load, from the samples' own timestamps: the kubelet exposes each cAdvisor value with the time it
was taken, and Prometheus keeps one sample per distinct timestamp, so the gap between consecutive
samples of a series is the refresh whether the pods are busy or idle. Where values also change
(busy pods), the gap between changes is taken too and the larger of the two wins, which covers a
Prometheus that stamps samples with the scrape time instead (`honor_timestamps: false`). Only
with no samples at all is the refresh assumed (10 s, the kubelet default), and the run says why.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from capacity.errors import ConfigError
from capacity.plan import Plan
from capacity.polling import Pending, poll_until

DEFAULT_CADVISOR_REFRESH_S = 10.0
SAMPLES_PER_WINDOW = 3
MAX_SCRAPE_WAIT_S = 15  # the plan's upper bound on scrape_interval_s


@dataclass(frozen=True)
class ClusterTiming:
    cadvisor_refresh_s: float
    scrape_interval_s: float
    measured: bool  # the refresh was measured from the data, not assumed
    reason: str = ""  # how it was measured, or why it could not be

    @property
    def sample_interval_s(self) -> float:
        """How often a new cAdvisor value can appear in Prometheus."""
        return max(self.cadvisor_refresh_s, self.scrape_interval_s)

    def min_step_s(self, settle_s: float) -> float:
        """Settle plus `SAMPLES_PER_WINDOW` samples, and never less than the plan's own rule
        (settle + two waits of `query_wait_s`, which is rounded up to whole seconds)."""
        samples = SAMPLES_PER_WINDOW * self.sample_interval_s
        return float(math.ceil(settle_s + max(samples, 2 * self.query_wait_s + 1)))

    @property
    def query_wait_s(self) -> int:
        """The plan's scrape_interval_s: the run reads a finished step this long (+0.7 s) after
        its end, by when a refresh taken before the end has been scraped."""
        return min(MAX_SCRAPE_WAIT_S, math.ceil(self.sample_interval_s))


def cluster_details(plan: Plan, timing: ClusterTiming | None, mode: str) -> dict[str, Any]:
    """platform.json's part shared by the cluster targets (Kubernetes API or URL mode)."""
    details: dict[str, Any] = {
        "target": "kube",
        "mode": mode,
        "limits_enforced": True,
        "limits_note": "pods ran with Kubernetes requests = limits (Guaranteed QoS)",
        "locust_workers": plan.locust_workers,
        "scrape_interval_s": plan.scrape_interval_s,
        "step_duration_s": plan.step_duration_s,
    }
    if timing is not None:
        details["cadvisor_refresh_s"] = timing.cadvisor_refresh_s
        details["cadvisor_refresh_measured"] = timing.measured
        details["prometheus_scrape_interval_s"] = timing.scrape_interval_s
    return details


def cluster_plan(plan: Plan, timing: ClusterTiming, *, step_given: bool) -> Plan:
    """The plan with cluster timing; a step the user set too short is an error, not a silent fix."""
    need = timing.min_step_s(plan.settle_s)
    step = plan.step_duration_s
    if step < need:
        if step_given:
            how = (
                "measured from the data"
                if timing.measured
                else f"the kubelet default: not measurable, {timing.reason}"
            )
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


def refresh_from_timestamps(series: Sequence[Sequence[float]]) -> float | None:
    """cAdvisor's refresh from each series' sample timestamps: the median gap between consecutive
    distinct timestamps, then the median over series (None: no series with two samples)."""
    gaps = []
    for stamps in series:
        distinct = sorted(set(stamps))
        if len(distinct) >= 2:
            gaps.append(statistics.median(b - a for a, b in itertools.pairwise(distinct)))
    return statistics.median(gaps) if gaps else None


@dataclass(frozen=True)
class RefreshReading:
    refresh_s: float | None  # None: not measurable, and `reason` says why
    reason: str


def measure_refresh(
    prom: Any, namespace: str, scrape_s: float, window_s: int = 120
) -> RefreshReading:
    """The refresh seen in the namespace's CPU counters: their timestamps, and their changes."""
    selector = (
        f'container_cpu_usage_seconds_total{{namespace="{namespace}", container!="", '
        f'container!="POD"}}[{window_s}s]'
    )
    try:
        raw = prom.custom_query(selector)
        changes = {
            repr(sorted(r.get("metric", {}).items())): float(r["value"][1])
            for r in prom.custom_query(f"changes({selector})")
        }
    except Exception as e:  # an unreadable answer is "not measurable", never a failed run
        return RefreshReading(None, f"Prometheus did not answer the refresh query: {e}")
    stamps = [[float(t) for t, _v in r.get("values", [])] for r in raw]
    if not stamps:
        return RefreshReading(
            None,
            f"no container_cpu_usage_seconds_total series for namespace {namespace!r} in the last "
            f"{window_s} s: is the kubelet's cAdvisor scraped?",
        )
    by_time = refresh_from_timestamps(stamps)
    if by_time is None:
        return RefreshReading(None, "each CPU counter has a single sample so far")
    # A stamp is the moment the value was read, so a busy machine jitters the gaps (1.02 s for a
    # 1 s refresh): a refresh is a whole number of scrapes, at least one.
    by_time = scrape_s * max(1, round(by_time / scrape_s))
    counts = [
        (len(s), changes[key])
        for r, s in zip(raw, stamps, strict=True)
        if (key := repr(sorted(r.get("metric", {}).items()))) in changes
    ]
    by_change = refresh_from_counts(counts, scrape_s)
    if by_change is not None and by_change > by_time:
        return RefreshReading(
            by_change,
            f"values change every {by_change:.1f} s, samples every {by_time:.1f} s (samples "
            "stamped at scrape time)",
        )
    return RefreshReading(by_time, f"sample timestamps of {len(stamps)} CPU counter(s)")


def wait_for_refresh(
    prom: Any, namespace: str, scrape_s: float, *, timeout_s: float = 35.0
) -> RefreshReading:
    """Measure the refresh, waiting (bounded) while a fresh stack has too few samples yet."""
    last = RefreshReading(None, "not measured")

    def readable() -> RefreshReading | Pending:
        nonlocal last
        last = measure_refresh(prom, namespace, scrape_s)
        return last if last.refresh_s is not None else Pending(last.reason)

    try:
        return poll_until(
            readable,
            timeout_s=timeout_s,
            interval_s=max(1.0, scrape_s),
            on_timeout=lambda reason: TimeoutError(reason),
        )
    except TimeoutError:
        return last


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
    reading = wait_for_refresh(prom, namespace, scrape)
    timing = ClusterTiming(
        cadvisor_refresh_s=reading.refresh_s or DEFAULT_CADVISOR_REFRESH_S,
        scrape_interval_s=scrape,
        measured=reading.refresh_s is not None,
        reason=reading.reason,
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
    how = f"measured: {timing.reason}" if timing.measured else f"assumed: {timing.reason}"
    return (
        f"cAdvisor refresh {timing.cadvisor_refresh_s:.1f} s ({how}), scrape every "
        f"{timing.scrape_interval_s:g} s: steps of {plan.step_duration_s:g} s, reading each "
        f"{plan.scrape_interval_s} s after it ends"
    )
