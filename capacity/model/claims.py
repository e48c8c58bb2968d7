"""The reference article's claims, each checked against this run's figures with a stated rule.

Every row says what the article claims (quoted), what this run measured, the rule that turns
the two into a verdict, and the verdict: supported, not supported, or not measured by this run.
Ratios get 10% tolerance in the article's favour; the rule text says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from capacity.model.analysis import Analysis, Series

Verdict = Literal["supported", "not supported", "not measured by this run"]
TOLERANCE = 0.9  # a ratio within 10% of the claimed one counts as supporting it


@dataclass(frozen=True)
class ClaimCheck:
    id: str
    claim: str
    quote: str
    measured: str
    rule: str
    verdict: Verdict


def _pair(analysis: Analysis, scenario: str) -> tuple[Series | None, Series | None]:
    return analysis.get("fastapi", scenario), analysis.get("django", scenario)


def _capacity(series: Series | None) -> float | None:
    if series is None or not series.capacity.capacity_per_pod_rps.defined:
        return None
    return series.capacity.capacity_per_pod_rps.number()


def _pods_on(series: Series | None, node: str) -> int | None:
    if series is None:
        return None
    for fit in series.fits:
        if fit.node.node.name == node:
            return int(fit.pods_per_node.number())
    return None


def _ratio_verdict(value: float | None, claimed: float) -> Verdict:
    if value is None:
        return "not measured by this run"
    return "supported" if value >= claimed * TOLERANCE else "not supported"


def _pods_per_t3_medium(analysis: Analysis, scenario: str) -> ClaimCheck:
    fast, django = _pair(analysis, scenario)
    f, d = _pods_on(fast, "t3.medium"), _pods_on(django, "t3.medium")
    rule = (
        "supported if FastAPI fits at least 1.5x as many right-sized pods as Django on a "
        "t3.medium (the claim's 10/6 = 1.67, less 10%)"
    )
    claim = "10 FastAPI pods but only 6 Django pods fit on a t3.medium"
    quote = "on a t3.medium EC2 instance, I can run 10 FastAPI pods but only 6 Django pods"
    if f is None or d is None:
        return ClaimCheck(
            "t3-medium-pods",
            claim,
            quote,
            f"t3.medium not modelled, or no SLO capacity for {scenario}",
            rule,
            "not measured by this run",
        )
    ratio = None if d == 0 else f / d
    verdict: Verdict
    if d == 0:
        verdict = "supported" if f > 0 else "not supported"
    else:
        verdict = _ratio_verdict(ratio, 10 / 6)
    shown = "n/a" if ratio is None else f"{ratio:.2f}"
    measured = (
        f"{scenario}: FastAPI {f} pods ({fast.sizing.shape if fast and fast.sizing else '?'}), "
        f"Django {d} pods ({django.sizing.shape if django and django.sizing else '?'}); "
        f"ratio {shown}"
    )
    return ClaimCheck("t3-medium-pods", claim, quote, measured, rule, verdict)


def _one_worker_5000(analysis: Analysis) -> ClaimCheck:
    rule = (
        "supported if a 1-worker FastAPI pod sustained >= 4,500 req/s within the SLO "
        "(5,000 less 10%)"
    )
    claim = "FastAPI with Uvicorn handled 5,000 requests per second with 1 worker"
    quote = "FastAPI with Uvicorn handled 5,000 requests per second with 1 worker"
    best: tuple[float, Series] | None = None
    for s in analysis.series:
        capacity = _capacity(s)
        if (
            s.framework == "fastapi"
            and s.tested.workers == 1
            and capacity is not None
            and (best is None or capacity > best[0])
        ):
            best = (capacity, s)
    if best is None:
        return ClaimCheck(
            "fastapi-1-worker-5000",
            claim,
            quote,
            "no 1-worker FastAPI series met the SLO",
            rule,
            "not measured by this run",
        )
    capacity, series = best
    measured = (
        f"best 1-worker FastAPI pod: {capacity:,.0f} req/s ({series.scenario}, CPU limit "
        f"{series.tested.pod_cpu_limit_millicores}m)"
    )
    verdict: Verdict = "supported" if capacity >= 5000 * TOLERANCE else "not supported"
    return ClaimCheck("fastapi-1-worker-5000", claim, quote, measured, rule, verdict)


def _django_needs_4_workers(analysis: Analysis, scenario: str) -> ClaimCheck:
    fast, django = _pair(analysis, scenario)
    rule = (
        "supported if FastAPI's capacity per worker is at least 3.6x Django's (4x less 10%), "
        "same scenario and pod shape"
    )
    claim = "Django with Gunicorn needed 4 workers for the throughput of 1 FastAPI worker"
    quote = "Django with Gunicorn needed 4 workers to achieve the same throughput"
    f, d = _capacity(fast), _capacity(django)
    if f is None or d is None or fast is None or django is None or d == 0:
        return ClaimCheck(
            "django-4-workers",
            claim,
            quote,
            f"no SLO capacity for both frameworks in {scenario}",
            rule,
            "not measured by this run",
        )
    per_f, per_d = f / fast.tested.workers, d / django.tested.workers
    measured = (
        f"{scenario}: FastAPI {per_f:,.1f} req/s per worker, Django {per_d:,.1f} req/s per "
        f"worker; ratio {per_f / per_d:.2f}"
    )
    return ClaimCheck(
        "django-4-workers", claim, quote, measured, rule, _ratio_verdict(per_f / per_d, 4)
    )


def _cost_40_percent(analysis: Analysis, scenario: str) -> ClaimCheck:
    fast, django = _pair(analysis, scenario)
    target = analysis.settings.target_rps
    rule = (
        f"supported if FastAPI's cheapest monthly cost at {target:,.0f} req/s is at most 66% of "
        "Django's (a 40% reduction, less 10% tolerance)"
    )
    claim = "FastAPI's smaller footprint cuts infrastructure cost by 40%"
    quote = (
        "This translates to a 40% reduction in infrastructure costs for high-traffic applications"
    )
    if fast is None or django is None or fast.cheapest is None or django.cheapest is None:
        return ClaimCheck(
            "cost-40-percent",
            claim,
            quote,
            f"no priced plan for both in {scenario}",
            rule,
            "not measured by this run",
        )
    f = fast.cheapest.monthly_usd.number()
    d = django.cheapest.monthly_usd.number()
    measured = (
        f"{scenario} at {target:,.0f} req/s: FastAPI ${f:,.2f}/month on {fast.cheapest.node_type}, "
        f"Django ${d:,.2f}/month on {django.cheapest.node_type}"
        + (f"; FastAPI costs {f / d:.0%} of Django" if d > 0 else "")
    )
    verdict: Verdict = "supported" if d > 0 and f <= d * 0.6 / TOLERANCE else "not supported"
    return ClaimCheck("cost-40-percent", claim, quote, measured, rule, verdict)


def _latency_light_load(analysis: Analysis, scenario: str) -> ClaimCheck:
    fast, django = _pair(analysis, scenario)
    rule = (
        "supported if Django's p50 is at least 2.4x FastAPI's (120/45 = 2.67, less 10%) at the "
        "lowest offered rate both ran; the article measured a mean under 100 concurrent users, "
        "this run offers fixed rates, so p50 stands in for the mean"
    )
    claim = "At light load Django answers in 120 ms where FastAPI takes 45 ms"
    quote = (
        "Django's average response time was 120ms with 100 concurrent users, while FastAPI "
        "achieved 45ms"
    )
    if fast is None or django is None:
        return ClaimCheck(
            "latency-light-load",
            claim,
            quote,
            f"{scenario} lacks a framework",
            rule,
            "not measured by this run",
        )
    rates_f = {round(r.offered_rps, 6): r for r in fast.records}
    rates_d = {round(r.offered_rps, 6): r for r in django.records}
    common = sorted(set(rates_f) & set(rates_d))
    pairs = [
        (rates_f[x], rates_d[x])
        for x in common
        if rates_f[x].latency_p50_ms and rates_d[x].latency_p50_ms
    ]
    if not pairs:
        return ClaimCheck(
            "latency-light-load",
            claim,
            quote,
            f"{scenario}: no offered rate with latencies for both",
            rule,
            "not measured by this run",
        )
    rf, rd = pairs[0]
    assert rf.latency_p50_ms and rd.latency_p50_ms
    ratio = rd.latency_p50_ms / rf.latency_p50_ms
    measured = (
        f"{scenario} at {rf.offered_rps:,.0f} req/s: Django p50 {rd.latency_p50_ms:.1f} ms, "
        f"FastAPI p50 {rf.latency_p50_ms:.1f} ms; ratio {ratio:.2f}"
    )
    return ClaimCheck(
        "latency-light-load", claim, quote, measured, rule, _ratio_verdict(ratio, 120 / 45)
    )


def _latency_10k_users() -> ClaimCheck:
    return ClaimCheck(
        "latency-10k-users",
        "With 10,000 simulated users FastAPI stays under 50 ms while Django averages 800 ms",
        "in a benchmark with 10,000 simulated users, FastAPI maintained sub-50ms response times "
        "while Django's averaged 800ms",
        "this run offers fixed request rates up to each pod's knee, not 10,000 concurrent users",
        "needs a closed-loop run with 10,000 concurrent users",
        "not measured by this run",
    )


def _io_cpu_40_percent(analysis: Analysis) -> ClaimCheck:
    rule = (
        "supported if FastAPI's CPU-seconds per request in an outbound-I/O scenario is at most "
        "66% of Django's (40% less, with 10% tolerance)"
    )
    claim = "Async cuts CPU overhead by 40% for I/O-bound work"
    quote = "FastAPI's async model reduces CPU overhead by 40% for I/O-bound tasks"
    for scenario in analysis.scenarios:
        if "upstream" not in scenario and "io" not in scenario.split("-"):
            continue
        fast, django = _pair(analysis, scenario)
        if fast is None or django is None:
            continue
        f, d = fast.capacity.cpu_seconds_per_request, django.capacity.cpu_seconds_per_request
        if not (f.defined and d.defined) or d.number() <= 0:
            continue
        share = f.number() / d.number()
        measured = (
            f"{scenario}: FastAPI {f.number() * 1000:.2f} ms CPU/request, Django "
            f"{d.number() * 1000:.2f} ms; FastAPI uses {share:.0%} of Django's"
        )
        verdict: Verdict = "supported" if share <= 0.6 / TOLERANCE else "not supported"
        return ClaimCheck("io-cpu-40-percent", claim, quote, measured, rule, verdict)
    return ClaimCheck(
        "io-cpu-40-percent",
        claim,
        quote,
        "no outbound-I/O scenario (name containing 'upstream') with both frameworks",
        rule,
        "not measured by this run",
    )


def check_claims(analysis: Analysis, scenario: str) -> tuple[ClaimCheck, ...]:
    """`scenario`: the headline scenario the per-scenario claims are judged on."""
    return (
        _pods_per_t3_medium(analysis, scenario),
        _one_worker_5000(analysis),
        _django_needs_4_workers(analysis, scenario),
        _cost_40_percent(analysis, scenario),
        _latency_light_load(analysis, scenario),
        _latency_10k_users(),
        _io_cpu_40_percent(analysis),
    )
