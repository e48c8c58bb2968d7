"""Reads one load step's figures from Prometheus, with the queries of capacity/metrics/queries.py.

Every figure covers `[<window>s]` ending at the step's end, where the window is the step minus
its settle period, so it covers exactly the steady part of its step. The two counters the model
divides (the pods' CPU-seconds and the requests they served) are read as raw samples, and each
series' rate is its slope between its first and last sample in the window (`counter_rate`); the
other figures use PromQL's rate(), quantiles and peaks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from prometheus_api_client import PrometheusConnect

from capacity.errors import TargetError
from capacity.metrics import queries as q
from capacity.polling import Pending, poll_until


class PromQuery(Protocol):
    """The one PrometheusConnect method we use (so tests can pass recorded answers)."""

    def custom_query(
        self, query: str, params: dict[str, Any] | None = None, timeout: int | None = None
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class StepMetrics:
    """What Prometheus saw during one step of one framework."""

    achieved_rps: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    error_ratio: float  # server side: 5xx / all
    pods: int
    pod_cpu_cores: float  # mean over pods
    pod_cpu_cores_max: float
    pod_memory_working_set_bytes: int  # peak within the step, highest pod
    pod_cpu_throttled_ratio: float  # highest pod
    generator_cpu_cores_max: float  # busiest Locust process
    offered_rps_exported: float | None  # the generator's own gauge, as a cross-check


def connect(url: str) -> PrometheusConnect:
    return PrometheusConnect(url=url, disable_ssl=True, timeout=10)


def _number(raw: object) -> float | None:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


def _values(prom: PromQuery, expr: str, at_s: float) -> list[float]:
    """Finite values of an instant query at `at_s` (NaN, e.g. a 0/0 ratio, are dropped)."""
    try:
        result = prom.custom_query(expr, params={"time": f"{at_s:.3f}"})
    except Exception as e:  # prometheus-api-client raises its own and requests' errors
        raise TargetError(f"Prometheus query failed: {e}\n  query: {expr}") from e
    out: list[float] = []
    for series in result:
        value = _number(series.get("value", [None, None])[1])
        if value is not None:
            out.append(value)
    return out


def _sample_series(
    prom: PromQuery, expr: str, at_s: float
) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    """(labels, [(time, value), ...]) of every series of a range selector at `at_s`."""
    try:
        result = prom.custom_query(expr, params={"time": f"{at_s:.3f}"})
    except Exception as e:  # prometheus-api-client raises its own and requests' errors
        raise TargetError(f"Prometheus query failed: {e}\n  query: {expr}") from e
    out = []
    for series in result:
        samples = [
            (float(t), v) for t, raw in series.get("values", []) if (v := _number(raw)) is not None
        ]
        out.append((dict(series.get("metric", {})), samples))
    return out


def counter_rate(samples: Sequence[tuple[float, float]]) -> float | None:
    """Per-second increase of a counter between its first and last sample (None: fewer than 2).

    A reset (the value drops, e.g. a restarted process) counts the new value as the increase
    since it, as rate() does. Unlike rate(), nothing is extrapolated to the window's edges, so a
    scrape missed there does not bias the figure; the rate is over the span the samples cover.
    """
    if len(samples) < 2:
        return None
    increase = 0.0
    for (_t0, v0), (_t1, v1) in itertools.pairwise(samples):
        increase += v1 - v0 if v1 >= v0 else v1
    span_s = samples[-1][0] - samples[0][0]
    return increase / span_s if span_s > 0 else None


def _one(values: Sequence[float]) -> float | None:
    return values[0] if values else None


def read_step(
    prom: PromQuery, *, namespace: str, framework: str, end_s: float, window_s: int
) -> StepMetrics:
    """The step's figures for `framework`, over (end_s - window_s, end_s]."""
    scope = q.Scope.concrete(namespace=namespace, framework=framework, window_s=window_s)

    def get(query: q.Query, **extra: str) -> list[float]:
        return _values(prom, query.render(scope, **extra), end_s)

    def latency_ms(quantile: str) -> float | None:
        seconds = _one(get(q.LATENCY_QUANTILE, q=quantile))
        return None if seconds is None else seconds * 1000.0

    def counter_rates(query: q.Query) -> list[tuple[dict[str, str], float]]:
        series = _sample_series(prom, query.render(scope), end_s)
        return [(labels, r) for labels, s in series if (r := counter_rate(s)) is not None]

    cpu_by_pod: dict[str, float] = {}
    for labels, cores in counter_rates(q.POD_CPU_SECONDS_SAMPLES):
        pod = labels.get("pod", "")
        cpu_by_pod[pod] = cpu_by_pod.get(pod, 0.0) + cores
    cpu = list(cpu_by_pod.values())
    request_rates = counter_rates(q.REQUESTS_SAMPLES)
    memory = get(q.POD_MEMORY_WORKING_SET_PEAK)
    throttled = get(q.POD_CPU_THROTTLED_RATIO)
    generator = get(q.GENERATOR_CPU_CORES)
    pods = _one(get(q.POD_COUNT))
    return StepMetrics(
        achieved_rps=sum(rps for _labels, rps in request_rates),
        latency_p50_ms=latency_ms("0.5"),
        latency_p95_ms=latency_ms("0.95"),
        latency_p99_ms=latency_ms("0.99"),
        error_ratio=_one(get(q.ERROR_RATIO)) or 0.0,
        pods=int(pods) if pods is not None else len(cpu),
        pod_cpu_cores=sum(cpu) / len(cpu) if cpu else 0.0,
        pod_cpu_cores_max=max(cpu, default=0.0),
        pod_memory_working_set_bytes=int(max(memory, default=0.0)),
        pod_cpu_throttled_ratio=max(throttled, default=0.0),
        generator_cpu_cores_max=max(generator, default=0.0),
        offered_rps_exported=_one(get(q.OFFERED_RPS)),
    )


def pool(parts: Sequence[tuple[StepMetrics, float]]) -> StepMetrics:
    """One step's figures from its measuring windows, each read on its own with its length (s).

    An extended step is measured in two windows with a drained gap between; read as one span,
    the idle gap would dilute the pods' CPU and served rate. Rates, mean CPU and the offered
    gauge are weighted by each window's length, the error ratio by its requests; peaks and the
    pod count take the worst window. A latency percentile is the higher of the windows' (their
    histograms are not merged): the server's figures are a cross-check, read conservatively.
    """
    if len(parts) == 1:
        return parts[0][0]

    def weighted(values: Sequence[tuple[float, float]]) -> float:
        weight = sum(w for _v, w in values)
        return sum(v * w for v, w in values) / weight if weight > 0 else 0.0

    def highest(values: Sequence[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return max(present) if present else None

    offered = [(v, s) for m, s in parts if (v := m.offered_rps_exported) is not None]
    return StepMetrics(
        achieved_rps=weighted([(m.achieved_rps, s) for m, s in parts]),
        latency_p50_ms=highest([m.latency_p50_ms for m, _s in parts]),
        latency_p95_ms=highest([m.latency_p95_ms for m, _s in parts]),
        latency_p99_ms=highest([m.latency_p99_ms for m, _s in parts]),
        error_ratio=weighted([(m.error_ratio, m.achieved_rps * s) for m, s in parts]),
        pods=min(m.pods for m, _s in parts),
        pod_cpu_cores=weighted([(m.pod_cpu_cores, s) for m, s in parts]),
        pod_cpu_cores_max=max(m.pod_cpu_cores_max for m, _s in parts),
        pod_memory_working_set_bytes=max(m.pod_memory_working_set_bytes for m, _s in parts),
        pod_cpu_throttled_ratio=max(m.pod_cpu_throttled_ratio for m, _s in parts),
        generator_cpu_cores_max=max(m.generator_cpu_cores_max for m, _s in parts),
        offered_rps_exported=weighted(offered) if offered else None,
    )


def wait_for_targets(prom_url: str, expected_jobs: Sequence[str], timeout_s: float = 30.0) -> None:
    """Until every scrape target of `expected_jobs` has been scraped successfully once."""

    def all_up() -> bool | Pending:
        try:
            data = httpx.get(f"{prom_url}/api/v1/targets", timeout=5).json()["data"]
            active = data.get("activeTargets", [])
            down = [
                f"{t['labels'].get('job')} {t.get('scrapeUrl')} ({t.get('health')}: "
                f"{t.get('lastError') or 'not scraped yet'})"
                for t in active
                if t.get("health") != "up"
            ]
            jobs = {t["labels"].get("job") for t in active if t.get("health") == "up"}
        except (httpx.HTTPError, KeyError, ValueError) as e:
            return Pending(str(e))
        if not down and all(j in jobs for j in expected_jobs):
            return True
        return Pending("; ".join(down) or f"jobs up: {sorted(j for j in jobs if j)}")

    poll_until(
        all_up,
        timeout_s=timeout_s,
        interval_s=0.3,
        on_timeout=lambda last: TargetError(
            f"Prometheus at {prom_url} did not scrape every target in {timeout_s:.0f}s: {last}"
        ),
    )
