"""Acceptance 2: charts/fwcap-service renders through the real Helm engine (helm-python-sdk, Helm
v4 without a helm binary) for both frameworks' values, and `helm lint` reports no errors - with its
defaults (what `helm install` alone uses) and with the exact values the program passes."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest

from deploy.images import ImageRef
from deploy.inputs import service_chart_inputs
from deploy.setting_types import FRAMEWORKS
from deploy.specs.config_files import database_secret_name
from deploy.specs.service_chart import service_chart_values
from deploy.stack_config import load_settings
from tests.deploy.harness import (
    CHART_DIR,
    KUBERNETES_VERSION,
    MOCK_ECR_REGISTRY,
    ROOT,
    alone,
    raw_from_stack_values,
    render_chart,
    stack_values,
)

WARNING = 2  # helm lint severities: 1 info, 2 warning, 3 error; strict lint fails on warnings


def program_values(framework: str, **stack_changes: Any) -> dict[str, Any]:
    values = {**stack_values(ROOT / "stacks" / "Pulumi.eks.yaml"), **stack_changes}
    settings = load_settings(raw_from_stack_values(values), ROOT)
    # The eks stack's images live in ECR repositories the program creates (deploy/aws.py).
    image = ImageRef(f"{MOCK_ECR_REGISTRY}/fwcap-{framework}", "0.1.0", "sha256:" + "e" * 64)
    return service_chart_values(
        service_chart_inputs(settings, framework), framework, image, database_secret_name(framework)
    )


def kinds(manifests: list[dict[str, Any]]) -> list[str]:
    return sorted(m["kind"] for m in manifests)


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [
        m for m in manifests if m["kind"] == kind and "migration" not in m["metadata"]["name"]
    ]
    return found


def lint_errors(values: dict[str, Any] | None = None) -> list[str]:
    report = helm.lint(str(CHART_DIR), values, strict=True, kube_version=f"v{KUBERNETES_VERSION}.0")
    assert report["total_charts_linted"] == 1
    return [m["error"] for m in report["messages"] if m["severity"] >= WARNING] + report["errors"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_chart_renders_every_object_for_the_program_values(framework: str) -> None:
    manifests = render_chart(program_values(framework), framework, "fwcap")
    assert kinds(manifests) == [
        "Deployment",
        "Job",
        "NetworkPolicy",
        "NetworkPolicy",
        "Service",
        "ServiceAccount",
    ]  # fmt: skip  (no PodDisruptionBudget: one replica, which a PDB cannot protect)
    deployment = one(manifests, "Deployment")
    assert deployment["metadata"]["name"] == framework
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == framework
    assert container["image"] == (
        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/fwcap-{framework}:0.1.0@sha256:{'e' * 64}"
    )
    assert container["resources"]["requests"] == container["resources"]["limits"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_helm_lint_reports_no_errors(framework: str) -> None:
    assert lint_errors() == []  # the chart's own defaults: `helm install` alone
    assert lint_errors(program_values(framework)) == []
    assert lint_errors(program_values(framework, **{"fwcap:monitoringMode": "existing",
        "fwcap:existingPrometheusUrl": "http://p.monitoring.svc:9090"})) == []  # fmt: skip


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"image": {"tag": "latest"}}, "/image/tag"),
        ({"resources": {"cpu": "lots", "memory": "1Gi"}}, "/resources/cpu"),
        ({"framework": "flask"}, "/framework"),
        ({"replicaCount": 0}, "/replicaCount"),
        ({"resources": {"cpu": "1", "memory": "1Gi", "cpuLimit": "lots"}}, "/resources/cpuLimit"),
        (
            {"autoscaling": {"behavior": {"scaleDown": {"policies": [{"type": "Bytes"}]}}}},
            "/autoscaling/behavior/scaleDown/policies/0",
        ),
        ({"podSecurityContext": {"runAsUser": 0, "runAsGroup": 1, "fsGroup": 1}}, "runAsUser"),
    ],
)
def test_lint_and_render_refuse_bad_values(bad: dict[str, Any], path: str) -> None:
    errors = lint_errors(bad)
    assert any(path in e for e in errors), errors
    with pytest.raises(helm.HelmValuesError):
        render_chart(bad, "django", "fwcap")


def test_chart_alone_runs_the_seed_job_as_a_helm_hook_and_creates_the_secret_from_a_url() -> None:
    manifests = render_chart(
        {**alone("django"), "database": {"url": "postgresql://u:p@db:5432/django"}},
        "django",
        "demo",
    )
    job = one(manifests, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    secret = one(manifests, "Secret")
    assert secret["stringData"] == {"DATABASE_URL": "postgresql://u:p@db:5432/django"}
    env = {
        e["name"]: e
        for e in one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]


def test_program_job_is_a_plain_object_named_after_the_image() -> None:
    first = one(render_chart(program_values("django"), "django", "fwcap"), "Job")
    again = one(render_chart(program_values("django"), "django", "fwcap"), "Job")
    other = program_values("django")
    other["image"]["digest"] = "sha256:" + "f" * 64
    changed = one(render_chart(other, "django", "fwcap"), "Job")
    annotations = first["metadata"]["annotations"]
    assert not [a for a in annotations if a.startswith("helm.sh/hook")]
    # Pulumi waits for the Job longer than the Job may run.
    assert int(annotations["pulumi.com/timeoutSeconds"]) > first["spec"]["activeDeadlineSeconds"]
    assert first["metadata"]["name"] == again["metadata"]["name"] != changed["metadata"]["name"]


def test_autoscaler_and_service_monitor_are_optional() -> None:
    values = program_values(
        "fastapi",
        **{
            "fwcap:hpaEnabled": True,
            "fwcap:hpaMaxReplicas": 6,
            "fwcap:monitoringMode": "existing",
            "fwcap:existingPrometheusUrl": "http://p.monitoring.svc:9090",
        },
    )
    manifests = render_chart(values, "fastapi", "fwcap")
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "fastapi"
    assert hpa["spec"]["maxReplicas"] == 6
    assert "replicas" not in one(manifests, "Deployment")["spec"]
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_chart_alone_renders_a_cpu_limit_above_the_request_and_the_hpa_behavior() -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [
        {"type": "Percent", "value": 50, "periodSeconds": 60}]}}  # fmt: skip
    values = {
        **alone("django"),
        "resources": {"cpu": "350m", "memory": "256Mi", "cpuLimit": "500m"},
        "autoscaling": {"enabled": True, "minReplicas": 4, "maxReplicas": 18,
                        "behavior": behavior},
    }  # fmt: skip
    manifests = render_chart(values, "django", "fwcap")
    [container] = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["cpu"] == "350m"
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    assert one(manifests, "HorizontalPodAutoscaler")["spec"]["behavior"] == behavior


def test_django_gets_threads_django_async_its_variant_and_fastapi_neither() -> None:
    def env(framework: str) -> dict[str, Any]:
        deployment = one(render_chart(program_values(framework), framework, "fwcap"), "Deployment")
        return {
            e["name"]: e.get("value")
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }

    assert env("django")["THREADS"] == "16"
    assert "THREADS" not in env("fastapi")
    # django-async: the django image serving async views under uvicorn (no gthread threads).
    assert env("django-async")["SERVICE_VARIANT"] == "async"
    assert "THREADS" not in env("django-async")
    assert "SERVICE_VARIANT" not in env("django") and "SERVICE_VARIANT" not in env("fastapi")


def test_the_chart_refuses_an_image_without_its_digest() -> None:
    values = alone("django")
    values["image"]["digest"] = ""
    with pytest.raises(Exception, match=r"image\.digest is required"):
        render_chart(values, "django", "fwcap")
