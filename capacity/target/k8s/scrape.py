"""Which Prometheus scrape targets are the kit's, told by their labels rather than job names.

The bundled Prometheus names its jobs `services`, `cadvisor`, `loadgen`; a kube-prometheus-stack
names them after ServiceMonitors (`<namespace>/<name>/0`, or the Service) and calls cAdvisor
`kubelet`. Both keep the same facts in the targets' labels, so a target is the kit's when:
  service pod  its namespace is the run's and its pod carries component=service and the
               framework's name label (discovered labels), or its container is the framework
  cAdvisor     its metrics path ends in /metrics/cadvisor (kubelet or API-server proxy), or
               its job is `cadvisor` (the local pod exporter)
  load gen     its metrics path is /export/prometheus in the run's namespace
Everything else (other apps, node exporters, a down alertmanager) is ignored, down or not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from capacity import interrupts
from capacity.errors import TargetError
from capacity.polling import Pending, poll_until

DISCOVERED_COMPONENT = "__meta_kubernetes_pod_label_app_kubernetes_io_component"
DISCOVERED_NAME = "__meta_kubernetes_pod_label_app_kubernetes_io_name"
CADVISOR_PATH = "/metrics/cadvisor"
LOADGEN_PATH = "/export/prometheus"


@dataclass(frozen=True)
class ScrapeTarget:
    role: str  # "service:<framework>" | "cadvisor" | "loadgen"
    job: str
    url: str
    up: bool
    error: str
    pod: str = ""
    scrape_interval: str = ""  # as Prometheus reports it, e.g. "5s"

    @property
    def base_url(self) -> str:
        """scheme://host:port of the scraped endpoint (a service pod's own HTTP port)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


def _path(target: Mapping[str, Any]) -> str:
    labels = target.get("labels") or {}
    return str(labels.get("metrics_path") or urlsplit(str(target.get("scrapeUrl", ""))).path)


def role_of(target: Mapping[str, Any], namespace: str, frameworks: Sequence[str]) -> str | None:
    """The kit's role of one /api/v1/targets entry, or None for a target that is not the kit's."""
    labels: Mapping[str, str] = target.get("labels") or {}
    found: Mapping[str, str] = target.get("discoveredLabels") or {}
    path = _path(target)
    if path.endswith(CADVISOR_PATH) or labels.get("job") == "cadvisor":
        return "cadvisor"
    if labels.get("namespace") != namespace:
        return None
    if path == LOADGEN_PATH:
        return "loadgen"
    component = found.get(DISCOVERED_COMPONENT)
    for fw in frameworks:
        if component is not None:
            if component == "service" and found.get(DISCOVERED_NAME) == fw:
                return f"service:{fw}"
        elif labels.get("container") == fw:
            return f"service:{fw}"
    return None


def classify(
    active: Sequence[Mapping[str, Any]], namespace: str, frameworks: Sequence[str]
) -> list[ScrapeTarget]:
    out = []
    for t in active:
        role = role_of(t, namespace, frameworks)
        if role is None:
            continue
        out.append(
            ScrapeTarget(
                role=role,
                job=str((t.get("labels") or {}).get("job", "")),
                url=str(t.get("scrapeUrl", "")),
                up=t.get("health") == "up",
                error=str(
                    t.get("lastError") or ("not scraped yet" if t.get("health") != "up" else "")
                ),
                pod=str((t.get("labels") or {}).get("pod", "")),
                scrape_interval=str(t.get("scrapeInterval", "")),
            )
        )
    return out


def missing_roles(
    targets: Sequence[ScrapeTarget], frameworks: Sequence[str], pods: Mapping[Any, int]
) -> list[str]:
    """What is not scraped yet: each framework's pods (all of them), cAdvisor, the load gen."""
    up = Counter(t.role for t in targets if t.up)
    problems = []
    for fw in frameworks:
        want = pods.get(fw, 1)
        if up[f"service:{fw}"] < want:
            problems.append(f"{fw}: {up[f'service:{fw}']} of {want} pod(s) scraped")
    if not up["cadvisor"]:
        problems.append("no cAdvisor target (kubelet /metrics/cadvisor) is up")
    if not up["loadgen"]:
        problems.append(f"the Locust master ({LOADGEN_PATH}) is not scraped")
    down = [f"{t.role} {t.url}: {t.error}" for t in targets if not t.up]
    return problems + (["down: " + "; ".join(down)] if problems and down else [])


def wait_for_kit_targets(
    prom_url: str,
    namespace: str,
    frameworks: Sequence[str],
    pods: Mapping[Any, int],
    *,
    timeout_s: float = 60.0,
    get: Callable[[str], Any] | None = None,
    sleep: Callable[[float], None] = interrupts.sleep,
) -> list[ScrapeTarget]:
    """Until every role the run reads is scraped; unrelated targets are never waited for."""
    fetch = get or (lambda url: httpx.get(url, timeout=5).json())

    def scraped() -> list[ScrapeTarget] | Pending:
        try:
            data = fetch(f"{prom_url.rstrip('/')}/api/v1/targets?state=active")["data"]
            targets = classify(data.get("activeTargets", []), namespace, frameworks)
            problems = missing_roles(targets, frameworks, pods)
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as e:
            return Pending(f"{type(e).__name__}: {e}")
        return Pending("; ".join(problems)) if problems else targets

    return poll_until(
        scraped,
        timeout_s=timeout_s,
        interval_s=0.5,
        on_timeout=lambda last: TargetError(
            f"Prometheus at {prom_url} does not scrape what the run reads after "
            f"{timeout_s:.0f}s: {last}"
        ),
        sleep=sleep,
    )
