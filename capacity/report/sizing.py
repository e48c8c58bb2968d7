"""What the deploy applies: sizing.yaml (the stack config `fwcap:sizing`) and, per framework, an
`autoscaling/v2` HorizontalPodAutoscaler and a VerticalPodAutoscaler recommendation.

All of it comes from the headline scenario's series (the request mix a production service
sees), from figures results.json already derives (capacity.model.rightsizing,
capacity.model.autoscaling), so the files and the report cannot disagree. Pure: series in,
documents out; `write_sizing` is the one function that touches the disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from capacity.frameworks import GTHREAD
from capacity.model.analysis import SeriesAnalysis
from capacity.model.autoscaling import Autoscaler, VerticalRecommendation
from capacity.quantity import format_cpu, format_memory

SIZING_FILE = "sizing.yaml"
MANIFESTS_DIR = "manifests"
SIZING_KEY = "fwcap:sizing"  # the stack-config key __main__.py reads (docs/deploy.md)


def _int(value: float | int | None) -> int:
    assert value is not None
    return int(value)


def _for_deployment(api_version: str, kind: str, framework: str) -> dict[str, Any]:
    """An object named after the framework's Deployment (as the chart names it), and its ref."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": framework, "labels": {"app.kubernetes.io/managed-by": "fwcap"}},
    }


DEPLOYMENT_REF = {"apiVersion": "apps/v1", "kind": "Deployment"}


def hpa_manifest(framework: str, hpa: Autoscaler) -> dict[str, Any]:
    """The HPA for the framework's Deployment."""
    return _for_deployment("autoscaling/v2", "HorizontalPodAutoscaler", framework) | {
        "spec": {
            "scaleTargetRef": DEPLOYMENT_REF | {"name": framework},
            "minReplicas": _int(hpa.min_replicas.value),
            "maxReplicas": _int(hpa.max_replicas.value),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": _int(hpa.target_cpu_utilization_percent.value),
                        },
                    },
                }
            ],
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": hpa.scale_down_stabilization_s,
                    "policies": [
                        {
                            "type": "Percent",
                            "value": hpa.scale_down_percent_per_minute,
                            "periodSeconds": 60,
                        }
                    ],
                }
            },
        },
    }


def vpa_manifest(framework: str, container: str, vpa: VerticalRecommendation) -> dict[str, Any]:
    """A VerticalPodAutoscaler in recommendation-only mode ("Off"), its bounds what this run
    measured: the VPA's own recommendation then shows in its status beside ours (the target is
    the right-sized request, in sizing.yaml and results.json)."""

    def cpu(figure_value: float | int | None) -> str:
        return format_cpu(_int(figure_value))

    def memory(figure_value: float | int | None) -> str:
        return format_memory(_int(figure_value))

    return _for_deployment("autoscaling.k8s.io/v1", "VerticalPodAutoscaler", framework) | {
        "spec": {
            "targetRef": DEPLOYMENT_REF | {"name": framework},
            "updatePolicy": {"updateMode": "Off"},
            "resourcePolicy": {
                "containerPolicies": [
                    {
                        "containerName": container,
                        "minAllowed": {
                            "cpu": cpu(vpa.cpu.lower_bound.value),
                            "memory": memory(vpa.memory.lower_bound.value),
                        },
                        "maxAllowed": {
                            "cpu": cpu(vpa.cpu.upper_bound.value),
                            "memory": memory(vpa.memory.upper_bound.value),
                        },
                    }
                ]
            },
        },
    }


def sizing_config(series: Sequence[SeriesAnalysis]) -> dict[str, Any]:
    """`fwcap:sizing`: per framework the requests, limit, workers, threads, replicas and HPA."""
    sizing: dict[str, Any] = {}
    for s in series:
        if s.sizing is None or s.autoscaler is None:
            continue
        tested = s.tested
        hpa = s.autoscaler
        entry: dict[str, Any] = {
            "cpuRequest": format_cpu(_int(s.sizing.cpu_millicores.value)),
            "cpuLimit": format_cpu(_int(s.sizing.cpu_limit_millicores.value)),
            "memory": format_memory(_int(s.sizing.memory_bytes.value)),
            "workers": tested.workers,
            "replicas": _int(hpa.min_replicas.value),
            "hpa": {
                "minReplicas": _int(hpa.min_replicas.value),
                "maxReplicas": _int(hpa.max_replicas.value),
                "targetCPUUtilizationPercentage": _int(hpa.target_cpu_utilization_percent.value),
                "scaleDownStabilizationSeconds": hpa.scale_down_stabilization_s,
                "scaleDownPercentPerMinute": hpa.scale_down_percent_per_minute,
            },
        }
        if tested.threads is not None and s.framework in GTHREAD:
            entry["threads"] = tested.threads
        sizing[s.framework] = entry
    return sizing


def write_sizing(out_dir: Path, series: Sequence[SeriesAnalysis], measured_from: str) -> list[Path]:
    """sizing.yaml and manifests/{hpa,vpa}-<framework>.yaml; nothing when no series is sized."""
    config = sizing_config(series)
    if not config:
        return []
    header = (
        f"# Right-sized from {measured_from} by `capacity report`/`capacity model`.\n"
        '# Merge the `config:` block into Pulumi.<stack>.yaml (docs/deploy.md, "Applying a '
        'sizing"),\n# then `pulumi up`: each Deployment and its HPA take exactly these values.\n'
    )
    written = [out_dir / SIZING_FILE]
    document = {"config": {SIZING_KEY: config}}
    written[0].write_text(header + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    manifests = out_dir / MANIFESTS_DIR
    manifests.mkdir(exist_ok=True)
    for s in series:
        if s.autoscaler is None or s.vertical is None:
            continue
        for kind, doc in (
            ("hpa", hpa_manifest(s.framework, s.autoscaler)),
            ("vpa", vpa_manifest(s.framework, s.framework, s.vertical)),
        ):
            path = manifests / f"{kind}-{s.framework}.yaml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
            written.append(path)
    return written
