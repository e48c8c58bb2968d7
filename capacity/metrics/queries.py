"""Every PromQL expression the kit uses, in one place: the capacity engine and the Grafana
dashboards both render their queries from here, so a report and a dashboard never disagree.

A query is a template over a `Scope` (namespace, framework, pod, rate window). The capacity engine
renders it with concrete values (`Scope.concrete(...)`); the dashboards render it with Grafana
variables (`GRAFANA_SCOPE`). All matchers are regex matchers so Grafana's multi-value variables
work; concrete values are regex-escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

HTTP_METRIC = "http_server_request_duration_seconds"
# Load-driving traffic only: probes (/healthz, /readyz) and scrapes never count as load.
LOAD_ROUTES = "/api/.+"


class Unit(StrEnum):
    """Grafana unit ids, so a panel's unit follows from its query."""

    RPS = "reqps"
    SECONDS = "s"
    RATIO = "percentunit"
    CORES = "short"
    BYTES = "bytes"
    COUNT = "short"
    RPS_PER_CORE = "short"


@dataclass(frozen=True)
class Scope:
    """Which series a query selects; the fields are PromQL regexes."""

    namespace: str
    framework: str
    pod: str = ".+"
    window: str = "1m"

    @classmethod
    def concrete(
        cls, *, namespace: str, framework: str, pod: str | None = None, window_s: int = 60
    ) -> Scope:
        return cls(
            namespace=_literal(namespace),
            framework=_literal(framework),
            pod=_literal(pod) if pod else ".+",
            window=f"{window_s}s",
        )


def _literal(text: str) -> str:
    """`text` as a regex matching only itself, written inside a PromQL string literal: each
    backslash re.escape adds is doubled, since PromQL refuses escapes such as backslash-hyphen
    in a string (`container=~"django-async"` needs the hyphen escaped for the regex only)."""
    return re.escape(text).replace("\\", "\\\\")


GRAFANA_SCOPE = Scope(
    namespace="$namespace", framework="$framework", pod="$pod", window="$__rate_interval"
)


@dataclass(frozen=True)
class Query:
    """One named PromQL expression. `template` uses str.format fields from `Scope` plus `{q}`."""

    name: str
    title: str
    unit: Unit
    template: str
    legend: str = ""

    def render(self, scope: Scope, **extra: str) -> str:
        return self.template.format(
            ns=scope.namespace, fw=scope.framework, pod=scope.pod, w=scope.window, **extra
        )


def _http(extra: str = "") -> str:
    # Double braces survive str.format; single-brace fields are the Scope's.
    sel = 'namespace=~"{ns}", app=~"{fw}", pod=~"{pod}", http_route=~"' + LOAD_ROUTES + '"'
    return "{{" + sel + (", " + extra if extra else "") + "}}"


def _pod(container_metric_extra: str = "") -> str:
    sel = 'namespace=~"{ns}", container=~"{fw}", pod=~"{pod}"'
    return "{{" + sel + (", " + container_metric_extra if container_metric_extra else "") + "}}"


_RPS = f"sum by (app) (rate({HTTP_METRIC}_count{_http()}[{{w}}]))"
_CPU = f"sum by (container) (rate(container_cpu_usage_seconds_total{_pod()}[{{w}}]))"

ACHIEVED_RPS = Query("achieved_rps", "Requests/s (achieved)", Unit.RPS, _RPS, legend="{{app}}")
RPS_BY_ROUTE = Query(
    "rps_by_route",
    "Requests/s by route",
    Unit.RPS,
    f"sum by (app, http_route) (rate({HTTP_METRIC}_count{_http()}[{{w}}]))",
    legend="{{app}} {{http_route}}",
)
LATENCY_QUANTILE = Query(
    "latency_quantile",
    "Latency quantile",
    Unit.SECONDS,
    f"histogram_quantile({{q}}, sum by (app, le) (rate({HTTP_METRIC}_bucket{_http()}[{{w}}])))",
    legend="{{app}}",
)
LATENCY_QUANTILE_BY_ROUTE = Query(
    "latency_quantile_by_route",
    "Latency quantile by route",
    Unit.SECONDS,
    f"histogram_quantile({{q}}, sum by (app, http_route, le) "
    f"(rate({HTTP_METRIC}_bucket{_http()}[{{w}}])))",
    legend="{{app}} {{http_route}}",
)
ERROR_RATIO = Query(
    "error_ratio",
    "Server error ratio (5xx)",
    Unit.RATIO,
    # `or ... * 0` keeps a 0 series when there were no 5xx at all (instead of no data).
    f"(sum by (app) (rate({HTTP_METRIC}_count{_http('http_response_status_code=~"5.."')}"
    f"[{{w}}])) or {_RPS} * 0) / {_RPS}",
    legend="{{app}}",
)
POD_CPU_CORES = Query(
    "pod_cpu_cores",
    "CPU cores per pod",
    Unit.CORES,
    f"sum by (pod) (rate(container_cpu_usage_seconds_total{_pod()}[{{w}}]))",
    legend="{{pod}}",
)
# Limits come from kube-state-metrics' series, not cAdvisor's container_spec_*: the
# kube-prometheus-stack drops those by default, while it always runs kube-state-metrics; the
# bundled monitoring deploys one, and the local pod exporter publishes the same series.
KSM_LIMITS = "kube_pod_container_resource_limits"


def _limit(resource: str) -> str:
    matcher = 'resource="' + resource + '"'
    return f"sum by (pod) ({KSM_LIMITS}{_pod(matcher)})"


POD_CPU_LIMIT_CORES = Query(
    "pod_cpu_limit_cores",
    "CPU limit per pod",
    Unit.CORES,
    _limit("cpu"),
    legend="{{pod}} limit",
)
POD_MEMORY_WORKING_SET = Query(
    "pod_memory_working_set_bytes",
    "Memory working set per pod",
    Unit.BYTES,
    f"sum by (pod) (container_memory_working_set_bytes{_pod()})",
    legend="{{pod}}",
)
POD_MEMORY_LIMIT = Query(
    "pod_memory_limit_bytes",
    "Memory limit per pod",
    Unit.BYTES,
    _limit("memory"),
    legend="{{pod}} limit",
)
POD_CPU_THROTTLED_RATIO = Query(
    "pod_cpu_throttled_ratio",
    "CPU throttling ratio (throttled / total CFS periods)",
    Unit.RATIO,
    f"sum by (pod) (rate(container_cpu_cfs_throttled_periods_total{_pod()}[{{w}}])) / "
    f"sum by (pod) (rate(container_cpu_cfs_periods_total{_pod()}[{{w}}]))",
    legend="{{pod}}",
)
POD_COUNT = Query(
    "pod_count",
    "Pods",
    Unit.COUNT,
    # Count pods, not series: cAdvisor can briefly keep a restarted container's old series.
    "count by (container) (count by (container, pod) "
    f"(container_memory_working_set_bytes{_pod()}))",
    legend="{{container}}",
)
RPS_PER_CORE = Query(
    "rps_per_core",
    "Requests/s per CPU core (efficiency)",
    Unit.RPS_PER_CORE,
    f'{_RPS} / on (app) label_replace({_CPU}, "app", "$1", "container", "(.*)")',
    legend="{{app}}",
)

# The load generator (Locust). Its CPU comes from the same cAdvisor-named series,
# container="locust"; its offered rate from gauges the locustfile's master exports
# (labels framework, scenario).
GENERATOR_CPU_CORES = Query(
    "generator_cpu_cores",
    "Load generator CPU cores",
    Unit.CORES,
    'sum by (pod) (rate(container_cpu_usage_seconds_total{{namespace=~"{ns}", '
    'container="locust"}}[{w}]))',
    legend="{{pod}}",
)
OFFERED_RPS = Query(
    "offered_rps",
    "Requests/s (offered by the load generator)",
    Unit.RPS,
    'sum by (framework) (fwcap_loadgen_offered_rps{{namespace=~"{ns}", framework=~"{fw}"}})',
    legend="{{framework}} offered",
)

# --- For the Grafana dashboards; the engine may use them too. ---
ERROR_RATIO_BY_ROUTE = Query(
    "error_ratio_by_route",
    "Server error ratio (5xx) by route",
    Unit.RATIO,
    # Same shape as ERROR_RATIO, one level finer: (app, http_route).
    f"(sum by (app, http_route) (rate({HTTP_METRIC}_count"
    f"{_http('http_response_status_code=~"5.."')}[{{w}}])) or "
    f"sum by (app, http_route) (rate({HTTP_METRIC}_count{_http()}[{{w}}])) * 0) / "
    f"sum by (app, http_route) (rate({HTTP_METRIC}_count{_http()}[{{w}}]))",
    legend="{{app}} {{http_route}}",
)
LOADGEN_STEP = Query(
    "loadgen_step",
    "Load step (index of the current fixed-rate step)",
    Unit.COUNT,
    'max by (framework, scenario) (fwcap_loadgen_step{{namespace=~"{ns}", framework=~"{fw}"}})',
    legend="{{framework}} {{scenario}}",
)
# The latency SLO as a flat line, from the dashboard's `slo_ms` variable (render with
# slo_ms="$slo_ms" for Grafana, or a number for a concrete plot).
SLO_LATENCY = Query(
    "slo_latency",
    "Latency SLO",
    Unit.SECONDS,
    "vector({slo_ms} / 1000)",
    legend="SLO",
)

ALL_QUERIES: tuple[Query, ...] = (
    ACHIEVED_RPS,
    RPS_BY_ROUTE,
    LATENCY_QUANTILE,
    LATENCY_QUANTILE_BY_ROUTE,
    ERROR_RATIO,
    POD_CPU_CORES,
    POD_CPU_LIMIT_CORES,
    POD_MEMORY_WORKING_SET,
    POD_MEMORY_LIMIT,
    POD_CPU_THROTTLED_RATIO,
    POD_COUNT,
    RPS_PER_CORE,
    GENERATOR_CPU_CORES,
    OFFERED_RPS,
    ERROR_RATIO_BY_ROUTE,
    LOADGEN_STEP,
    SLO_LATENCY,
)

# The capacity run reads its two counters as raw samples over the step's window and takes each
# series' slope between its first and last sample (capacity/metrics/client.py). rate() divides
# an increase extrapolated by at most half a scrape interval by the whole window, so scrapes
# missed at a window's edge (a busy support core delays the pod exporter) read low: two missed
# 1 s scrapes of a 6 s window gave a pod's CPU 16% low (0.392 against 0.464 cores). Not
# dashboard panels, so kept out of ALL_QUERIES.
POD_CPU_SECONDS_SAMPLES = Query(
    "pod_cpu_seconds_samples",
    "CPU-seconds counter per pod (raw samples)",
    Unit.SECONDS,
    f"container_cpu_usage_seconds_total{_pod()}[{{w}}]",
    legend="{{pod}}",
)
REQUESTS_SAMPLES = Query(
    "requests_samples",
    "Requests counter per series (raw samples)",
    Unit.COUNT,
    f"{HTTP_METRIC}_count{_http()}[{{w}}]",
    legend="{{pod}} {{http_route}}",
)

# Added for the capacity run (capacity/metrics/client.py); not dashboard panels, so kept out of
# ALL_QUERIES. Right-sizing needs the peak working set within a step, not its last sample.
POD_MEMORY_WORKING_SET_PEAK = Query(
    "pod_memory_working_set_peak_bytes",
    "Peak memory working set per pod",
    Unit.BYTES,
    f"max by (pod) (max_over_time(container_memory_working_set_bytes{_pod()}[{{w}}]))",
    legend="{{pod}} peak",
)
