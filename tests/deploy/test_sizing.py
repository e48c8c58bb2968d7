"""A report's sizing.yaml applied by `pulumi up` (issue 23, item 3): with its `config:` block merged
into the local stack, each framework's Deployment and HorizontalPodAutoscaler carry exactly its
values, and bad sizings are refused before any resource, naming the nested key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
import yaml

from capacity.errors import ConfigError
from deploy.stack_config import load_settings
from tests.deploy.conftest import CHART_TYPE, SIZED, SIZING_FILE, deployed, sized_stack_values
from tests.deploy.harness import (
    KUBERNETES_VERSION,
    ROOT,
    RecordingMocks,
    pulumi_config,
    raw_from_stack_values,
    run_program,
)

SIZING: dict[str, dict[str, Any]] = yaml.safe_load(SIZING_FILE.read_text())["config"][
    "fwcap:sizing"
]


def _object(framework: str, kind: str) -> dict[str, Any]:
    [found] = [
        m
        for m in deployed(SIZED).charts[framework]
        if m["kind"] == kind and "migration" not in m["metadata"]["name"]
    ]
    return found


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.mark.parametrize("framework", sorted(SIZING))
def test_deployment_carries_exactly_the_sizing(framework: str) -> None:
    size = SIZING[framework]
    deployment = _object(framework, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == {
        "requests": {"cpu": size["cpuRequest"], "memory": size["memory"]},
        "limits": {"cpu": size["cpuLimit"], "memory": size["memory"]},
    }
    # What the launcher reads (services/CONTRACT.md): WORKERS, and THREADS for gunicorn only.
    env = _env(container)
    assert env["WORKERS"] == str(size["workers"])
    assert env.get("THREADS") == (str(size["threads"]) if "threads" in size else None)
    # The HPA owns the pod count (a `replicas` here would reset it on every update); `replicas`
    # sizes the rollout (one surge pod once there are two or more) and the PDB.
    assert "replicas" not in deployment["spec"]
    assert size["replicas"] > 1
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert _object(framework, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("framework", sorted(SIZING))
def test_autoscaler_carries_exactly_the_sizing(framework: str) -> None:
    hpa = SIZING[framework]["hpa"]
    spec = _object(framework, "HorizontalPodAutoscaler")["spec"]
    assert spec["scaleTargetRef"]["name"] == framework
    assert (spec["minReplicas"], spec["maxReplicas"]) == (hpa["minReplicas"], hpa["maxReplicas"])
    [metric] = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": hpa["targetCPUUtilizationPercentage"],
    }
    assert spec["behavior"] == {
        "scaleDown": {
            "stabilizationWindowSeconds": hpa["scaleDownStabilizationSeconds"],
            "policies": [
                {"type": "Percent", "value": hpa["scaleDownPercentPerMinute"], "periodSeconds": 60}
            ],
        }
    }


def test_sized_objects_validate_against_the_openapi_schema() -> None:
    """test_manifests.py validates every object of every case, this one included; these are the
    objects the sizing shapes, so a schema change that rejects them fails here by name."""
    sized = [
        m
        for manifests in deployed(SIZED).charts.values()
        for m in manifests
        if m["kind"] in ("Deployment", "HorizontalPodAutoscaler")
    ]
    assert len(sized) == 2 * len(SIZING)
    for manifest in sized:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_a_framework_without_an_entry_keeps_the_stack_wide_settings() -> None:
    values = sized_stack_values()
    values["fwcap:sizing"] = {"django": SIZING["django"]}
    settings = load_settings(raw_from_stack_values(values), ROOT)
    assert "fastapi" not in settings.sizing
    _, run = run_program(pulumi_config(values), stack="half-sized")
    charts = {c.name: c.inputs["values"] for c in run.of_type(CHART_TYPE)}
    assert charts["fastapi"]["resources"] == {"cpu": settings.cpu, "memory": settings.memory}
    assert charts["fastapi"]["autoscaling"]["enabled"] is settings.hpa_enabled
    assert "behavior" not in charts["fastapi"]["autoscaling"]
    assert charts["django"]["resources"]["cpuLimit"] == SIZING["django"]["cpuLimit"]


def _resized(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    values = sized_stack_values()
    sizing = copy.deepcopy(values["fwcap:sizing"])
    change(sizing)
    return {**values, "fwcap:sizing": sizing}


# (what is wrong, how, the key the message names, why it says)
REFUSED: list[tuple[str, Callable[[dict[str, Any]], object], str, str]] = [
    (
        "request above limit",
        lambda s: s["django"].update(cpuRequest="600m"),
        "fwcap:sizing.django:",
        "cpuRequest 600m is above cpuLimit 500m",
    ),
    (
        "min above max",
        lambda s: s["fastapi"]["hpa"].update(minReplicas=14),
        "fwcap:sizing.fastapi.hpa:",
        "hpa.minReplicas 14 is above hpa.maxReplicas 13",
    ),
    (
        "replicas above max",
        lambda s: s["django"].update(replicas=19),
        "fwcap:sizing.django:",
        "replicas 19 is above hpa.maxReplicas 18",
    ),
    (
        "unknown framework",
        lambda s: s.update(flask=s["fastapi"]),
        "fwcap:sizing.flask",
        "unknown framework 'flask'",
    ),
    (
        "threads for fastapi",
        lambda s: s["fastapi"].update(threads=4),
        "fwcap:sizing:",
        "fastapi.threads is set, but only django runs threads",
    ),
    (
        "misspelt field",
        lambda s: s["django"].update(cpu="1"),
        "fwcap:sizing.django.cpu",
        "Extra inputs are not permitted",
    ),
    (
        "missing autoscaler",
        lambda s: s["fastapi"].pop("hpa"),
        "fwcap:sizing.fastapi.hpa",
        "Field required",
    ),
    (
        "bad CPU quantity",
        lambda s: s["fastapi"].update(cpuLimit="lots"),
        "fwcap:sizing.fastapi.cpuLimit = 'lots'",
        "not valid",
    ),
    (
        "target of 0%",
        lambda s: s["django"]["hpa"].update(targetCPUUtilizationPercentage=0),
        "fwcap:sizing.django.hpa.targetCPUUtilizationPercentage = 0",
        "greater than or equal to 1",
    ),
    (
        "stabilization above an hour",
        lambda s: s["django"]["hpa"].update(scaleDownStabilizationSeconds=3601),
        "fwcap:sizing.django.hpa.scaleDownStabilizationSeconds = 3601",
        "less than or equal to 3600",
    ),
]


@pytest.mark.parametrize(("what", "change", "key", "why"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_bad_sizing_is_refused_naming_the_key_and_what_is_accepted(
    what: str, change: Callable[[dict[str, Any]], object], key: str, why: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(raw_from_stack_values(_resized(change)), ROOT)
    message = str(caught.value)
    assert key in message and why in message, message
    assert "cpuRequest and cpuLimit (CPU, request <= limit)" in message  # what is accepted


def test_the_program_stops_on_a_bad_sizing_before_any_resource() -> None:
    mocks = RecordingMocks()
    bad = _resized(lambda s: s["django"].update(cpuRequest="600m"))
    with pytest.raises(ConfigError, match=r"fwcap:sizing\.django"):
        run_program(pulumi_config(bad), stack="bad-sizing", mocks=mocks)
    assert mocks.registered == []
