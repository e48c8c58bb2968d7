"""What the deploy applies, as a report folder holds it: sizing.yaml carries exactly the figures
of results.json (headline scenario), the HPA manifests validate against the Kubernetes OpenAPI
schema (kubernetes-validate, strict), and the VPAs have the shape the VPA CRD takes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from capacity.model import Slo
from capacity.quantity import parse_cpu_millicores, parse_memory_bytes
from capacity.report import build_report
from capacity.report.sizing import MANIFESTS_DIR, SIZING_FILE, SIZING_KEY
from tests.deploy.harness import KUBERNETES_VERSION

MEASUREMENTS = Path(__file__).parent / "data" / "real-run" / "measurements.jsonl"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(MEASUREMENTS, tmp_path_factory.mktemp("report") / "r", slo=Slo())


def _headline(report: Path) -> dict[str, dict[str, Any]]:
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    headline = results["inputs"]["headline_scenario"]
    return {s["framework"]: s for s in results["series"] if s["scenario"] == headline}


def test_sizing_yaml_carries_the_results_figures_exactly(report: Path) -> None:
    config = yaml.safe_load((report / SIZING_FILE).read_text(encoding="utf-8"))
    sizing = config["config"][SIZING_KEY]
    series = _headline(report)
    assert set(sizing) == set(series) == {"django", "fastapi"}
    for framework, entry in sizing.items():
        s = series[framework]
        rec, hpa = s["recommended"], s["autoscaler"]
        assert parse_cpu_millicores(entry["cpuRequest"]) == rec["cpu_millicores"]["value"]
        assert parse_cpu_millicores(entry["cpuLimit"]) == rec["cpu_limit_millicores"]["value"]
        assert parse_memory_bytes(entry["memory"]) == rec["memory_bytes"]["value"]
        assert entry["workers"] == s["tested_shape"]["workers"]
        assert entry.get("threads") == s["tested_shape"]["threads"]
        assert entry["replicas"] == entry["hpa"]["minReplicas"] == hpa["min_replicas"]["value"]
        assert entry["hpa"]["maxReplicas"] == hpa["max_replicas"]["value"]
        target = hpa["target_cpu_utilization_percent"]["value"]
        assert entry["hpa"]["targetCPUUtilizationPercentage"] == target
        assert 1 <= target <= 100


@pytest.mark.parametrize("framework", ["django", "fastapi"])
def test_the_hpa_manifest_is_valid_kubernetes_and_matches_the_results(
    report: Path, framework: str
) -> None:
    manifest = yaml.safe_load((report / MANIFESTS_DIR / f"hpa-{framework}.yaml").read_text())
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    spec, hpa = manifest["spec"], _headline(report)[framework]["autoscaler"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": framework}  # fmt: skip
    assert spec["minReplicas"] == hpa["min_replicas"]["value"]
    assert spec["maxReplicas"] == hpa["max_replicas"]["value"]
    utilisation = spec["metrics"][0]["resource"]["target"]["averageUtilization"]
    assert utilisation == hpa["target_cpu_utilization_percent"]["value"]
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_a_broken_hpa_is_refused_by_the_validator(report: Path) -> None:
    manifest = yaml.safe_load((report / MANIFESTS_DIR / "hpa-django.yaml").read_text())
    manifest["spec"]["minReplicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("framework", ["django", "fastapi"])
def test_the_vpa_recommends_only_within_what_was_measured(report: Path, framework: str) -> None:
    # The VPA is a custom resource: kubernetes-validate has no schema for it, so its shape is
    # checked against the fields autoscaling.k8s.io/v1 defines.
    vpa = yaml.safe_load((report / MANIFESTS_DIR / f"vpa-{framework}.yaml").read_text())
    assert (vpa["apiVersion"], vpa["kind"]) == ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler")
    assert set(vpa) == {"apiVersion", "kind", "metadata", "spec"}
    assert vpa["spec"]["targetRef"]["name"] == framework
    assert vpa["spec"]["updatePolicy"] == {"updateMode": "Off"}
    (policy,) = vpa["spec"]["resourcePolicy"]["containerPolicies"]
    assert policy["containerName"] == framework
    bounds = _headline(report)[framework]["vertical"]
    low, high = policy["minAllowed"], policy["maxAllowed"]
    assert parse_cpu_millicores(low["cpu"]) == bounds["cpu"]["lower_bound"]["value"]
    assert parse_cpu_millicores(high["cpu"]) == bounds["cpu"]["upper_bound"]["value"]
    assert parse_memory_bytes(low["memory"]) <= parse_memory_bytes(high["memory"])
    assert bounds["cpu"]["lower_bound"]["value"] <= bounds["cpu"]["target"]["value"]


def test_the_deploy_accepts_the_sizing_yaml_a_report_writes(report: Path) -> None:
    # The two sides of `fwcap:sizing`: what `capacity report` writes, what deploy/ validates.
    from pydantic import TypeAdapter

    from deploy.sizing import Sizing

    written = yaml.safe_load((report / SIZING_FILE).read_text(encoding="utf-8"))
    parsed = TypeAdapter(Sizing).validate_python(written["config"][SIZING_KEY])
    assert set(parsed) == {"django", "fastapi"}
    assert parsed["fastapi"].threads is None and parsed["django"].threads is not None


def test_the_report_shows_each_hpa_and_points_at_the_files(report: Path) -> None:
    text = (report / "report.md").read_text(encoding="utf-8")
    for framework, s in _headline(report).items():
        hpa = s["autoscaler"]
        line = (
            f"- HPA: {hpa['target_cpu_utilization_percent']['value']}% CPU of the request, "
            f"{hpa['min_replicas']['value']}-{hpa['max_replicas']['value']} pods "
            f"(`sizing.yaml`, `manifests/hpa-{framework}.yaml`)."
        )
        assert line in text, line
