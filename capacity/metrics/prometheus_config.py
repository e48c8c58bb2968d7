"""Render the one Prometheus config template for the local run or for a cluster.

Local mode lists static loopback targets; Kubernetes mode uses service discovery. Both give every
series the same `namespace`, `pod` and `container` labels, so the PromQL in queries.py is shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jinja2

TEMPLATE_PATH = Path(__file__).with_name("prometheus.yml.j2")
LOCAL_NAMESPACE = "local"


@dataclass(frozen=True)
class ServiceTarget:
    """One local pod's /metrics endpoint."""

    address: str  # host:port
    pod: str  # e.g. "django-0"
    container: str  # the framework: "django" | "fastapi"


def _render(**context: object) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_PATH.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
    )
    return env.get_template(TEMPLATE_PATH.name).render(**context)


def render_prometheus_config(
    *,
    mode: Literal["local", "kubernetes"],
    namespace: str = LOCAL_NAMESPACE,
    scrape_interval_s: int = 5,
    service_targets: Sequence[ServiceTarget] = (),
    pod_exporter_address: str = "",
    loadgen_address: str = "",
) -> str:
    """The Prometheus YAML for `mode`: local mode needs the targets, Kubernetes the namespace."""
    if mode == "local" and not pod_exporter_address:
        raise ValueError("local mode needs pod_exporter_address (host:port of the pod exporter)")
    return _render(
        mode=mode,
        namespace=namespace,
        scrape_interval_s=scrape_interval_s,
        scrape_timeout_s=max(1, min(10, scrape_interval_s - 1)) if scrape_interval_s > 1 else 1,
        service_targets=list(service_targets),
        pod_exporter_address=pod_exporter_address,
        loadgen_address=loadgen_address,
    )
