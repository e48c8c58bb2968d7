"""Acceptance 3: every Kubernetes object the kit produces - the chart rendered with the program's
values, and every resource the mocked program registered (as a manifest) - validates against the
Kubernetes OpenAPI schema (kubernetes-validate, strict: unknown fields fail) and passes the
restricted-profile policy in policy.py. The policy and the validator are shown to fail on bad
input, so a pass means something."""

from __future__ import annotations

import copy
import re
from typing import Any

import kubernetes_validate
import pytest

from deploy.inputs import service_chart_inputs
from tests.deploy.conftest import Deployed
from tests.deploy.harness import KUBERNETES_VERSION, ROOT, alone, render_chart
from tests.deploy.policy import image_is_pinned, pod_spec, violations

# Custom resources have no schema in kubernetes-validate; their shape is checked here instead.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def _validate(manifest: dict[str, Any]) -> None:
    if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_KINDS:
        spec = manifest["spec"]
        assert spec["selector"]["matchLabels"] and spec["endpoints"], manifest
        assert all(e["port"] and e["path"].startswith("/") for e in spec["endpoints"])
        return
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validate_ships_the_version_we_validate_against() -> None:
    assert KUBERNETES_VERSION in kubernetes_validate.utils.all_versions() or any(
        v.startswith(KUBERNETES_VERSION + ".") for v in kubernetes_validate.utils.all_versions()
    )


def test_every_object_validates_against_the_openapi_schema(case: Deployed) -> None:
    manifests = case.all_manifests()
    assert len(manifests) > 30
    for manifest in manifests:
        try:
            _validate(manifest)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{manifest['kind']}/{manifest['metadata'].get('name')}: {exc}")


def test_every_workload_meets_the_restricted_profile(case: Deployed) -> None:
    workloads = [
        m for m in case.all_manifests() if m["kind"] in ("Deployment", "StatefulSet", "Job")
    ]
    # services x (Deployment + Job), PostgreSQL, the stub, Locust x 2, Prometheus + Grafana
    assert len(workloads) >= 2 * len(case.charts) + 4
    problems = [v for m in workloads for v in violations(m)]
    assert problems == []


def test_policy_flags_each_kind_of_violation() -> None:
    good = render_chart(alone("django"), "django", "demo")
    deployment = next(m for m in good if m["kind"] == "Deployment")
    assert violations(deployment) == []

    def broken(change: Any) -> list[str]:
        manifest = copy.deepcopy(deployment)
        pod = manifest["spec"]["template"]["spec"]
        change(pod, pod["containers"][0])
        return violations(manifest)

    # what is broken -> (how, a phrase the violation must contain)
    cases: dict[str, tuple[Any, str]] = {
        "root": (
            lambda p, c: (
                p["securityContext"].update(runAsUser=0),
                c["securityContext"].pop("runAsUser"),
            ),
            "runAsUser",
        ),
        "escalation": (
            lambda p, c: c["securityContext"].pop("allowPrivilegeEscalation"),
            "allowPrivilegeEscalation",
        ),
        "capabilities": (
            lambda p, c: c["securityContext"]["capabilities"].update(drop=[]),
            "drop ALL",
        ),
        "seccomp": (
            lambda p, c: (
                p["securityContext"].pop("seccompProfile"),
                c["securityContext"].pop("seccompProfile"),
            ),
            "seccompProfile",
        ),
        "writable root": (
            lambda p, c: c["securityContext"].update(readOnlyRootFilesystem=False),
            "writable",
        ),
        "no limits": (lambda p, c: c["resources"].pop("limits"), "request and limit"),
        "memory request != limit": (
            lambda p, c: c["resources"]["requests"].update(memory="100Mi"),
            "!= limit",
        ),
        "cpu request above limit": (
            lambda p, c: c["resources"]["requests"].update(cpu="2"),
            "!= limit",
        ),
        "latest": (lambda p, c: c.update(image="r/fwcap-django:latest"), "not pinned"),
        "untagged": (lambda p, c: c.update(image="r/fwcap-django"), "not pinned"),
        "tag only": (lambda p, c: c.update(image="r/fwcap-django:1.0"), "not pinned"),
        "host path": (
            lambda p, c: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
            "hostPath",
        ),
        "host network": (lambda p, c: p.update(hostNetwork=True), "hostNetwork"),
        "no tmp": (lambda p, c: c.update(volumeMounts=[]), "/tmp"),
    }
    for name, (change, phrase) in cases.items():
        found = broken(change)
        assert any(phrase in v for v in found), f"the policy missed {name}: {found}"


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("postgres:18.1-bookworm@sha256:" + "a" * 64, True),
        ("localhost:5001/fwcap-django:0.1.0@sha256:" + "a" * 64, True),
        ("postgres:18.1-bookworm", False),  # a tag alone can be re-pushed
        ("localhost:5001/fwcap-django@sha256:" + "a" * 64, False),  # a digest alone: unreadable
        ("localhost:5001/fwcap-django:0.1.0@sha256:abc", False),
        ("localhost:5001/fwcap-django", False),
        ("grafana/grafana:latest", False),
        ("grafana/grafana", False),
    ],
)
def test_image_pinning_rule(image: str, pinned: bool) -> None:
    assert image_is_pinned(image) is pinned


def test_strict_schema_validation_rejects_unknown_fields() -> None:
    deployment = next(
        m for m in render_chart(alone("django"), "django", "demo") if m["kind"] == "Deployment"
    )
    _validate(deployment)
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(bad)


@pytest.mark.parametrize("framework", ["django", "fastapi"])
def test_chart_alone_with_every_option_on_validates_and_meets_the_policy(framework: str) -> None:
    """`helm install` without Pulumi: hook Job, chart-made Secret, HPA and ServiceMonitor."""
    values = {
        "framework": framework,
        "image": alone(framework)["image"],
        "database": {"url": f"postgresql://u:p@postgres:5432/{framework}"},
        "autoscaling": {"enabled": True},
        "monitoring": {"mode": "existing"},
    }
    manifests = render_chart(values, framework, "demo")
    assert {"Secret", "HorizontalPodAutoscaler", "ServiceMonitor", "Job"} <= {
        m["kind"] for m in manifests
    }
    for manifest in manifests:
        _validate(manifest)
        assert violations(manifest) == []


def test_every_deployment_states_its_rollout_strategy(case: Deployed) -> None:
    """No Deployment falls back to Kubernetes' default 25% surge: each says how it rolls."""
    missing = [
        m["metadata"]["name"]
        for m in case.all_manifests()
        if m["kind"] == "Deployment" and not (m["spec"].get("strategy") or {}).get("type")
    ]
    assert missing == []
    for m in case.all_manifests():
        strategy = m["spec"].get("strategy") or {} if m["kind"] == "Deployment" else {}
        if strategy.get("type") == "RollingUpdate":
            steps = strategy["rollingUpdate"]
            assert (steps["maxSurge"], steps["maxUnavailable"]) != (0, 0), m["metadata"]["name"]
            if m["spec"].get("replicas", 1) == 1 and m["metadata"]["name"] not in case.charts:
                assert steps == {"maxSurge": 0, "maxUnavailable": 1}, m["metadata"]["name"]
            if m["metadata"]["name"] in case.charts:  # the services: by their replicas
                one = service_chart_inputs(case.settings, m["metadata"]["name"]).replicas == 1
                assert steps == ({"maxSurge": 0, "maxUnavailable": 1} if one else
                                 {"maxSurge": 1, "maxUnavailable": 0})  # fmt: skip


def test_every_image_carries_its_tag_and_digest(case: Deployed) -> None:
    """Acceptance: no container or init container of any rendered object runs a tag-only image."""
    found = {
        c["image"]
        for m in case.all_manifests()
        if (spec := pod_spec(m)) is not None
        for c in [*spec.get("containers", []), *spec.get("initContainers", [])]
    }
    assert len(found) >= 5
    assert sorted(i for i in found if not image_is_pinned(i)) == []


def _server_graceful_timeouts_s() -> dict[str, int]:
    """The servers' own SIGTERM budgets, read from their config (what the images run)."""
    gunicorn = (ROOT / "services/django/gunicorn.conf.py").read_text()
    uvicorn = (ROOT / "services/asgi_server/serve.py").read_text()
    found = {
        "django": re.search(r"^graceful_timeout = (\d+)", gunicorn, re.MULTILINE),
        "fastapi": re.search(r"^GRACEFUL_SHUTDOWN_S = (\d+)", uvicorn, re.MULTILINE),
        # Django's async variant runs the same uvicorn (services/asgi_server).
        "django-async": re.search(r"^GRACEFUL_SHUTDOWN_S = (\d+)", uvicorn, re.MULTILINE),
    }
    assert all(found.values()), found
    assert "timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S" in uvicorn
    return {fw: int(m.group(1)) for fw, m in found.items() if m}


def test_every_workload_states_its_grace_and_the_services_drain_before_sigterm(
    case: Deployed,
) -> None:
    """Acceptance: terminationGracePeriodSeconds on every Deployment (and PostgreSQL), above the
    preStop delay plus the server's own graceful timeout for the services."""
    timeouts = _server_graceful_timeouts_s()
    for m in case.all_manifests():
        if m["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = m["spec"]["template"]["spec"]
        name = m["metadata"]["name"]
        assert isinstance(pod.get("terminationGracePeriodSeconds"), int), name
        if name in case.charts:
            [server] = pod["containers"]
            pre_stop = server["lifecycle"]["preStop"]["sleep"]["seconds"]
            assert pre_stop >= 5
            assert pod["terminationGracePeriodSeconds"] > pre_stop + timeouts[name], name
        if name == "upstream-stub":
            assert pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] >= 5
        if name == "postgres":
            command = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
            assert command[:2] == ["pg_ctl", "stop"] and "fast" in command


def test_the_chart_refuses_a_grace_period_shorter_than_drain_plus_graceful_timeout() -> None:
    values = alone("django")
    values["shutdown"] = {
        "preStopSeconds": 10,
        "serverGracefulTimeoutSeconds": 20,
        "terminationGracePeriodSeconds": 30,
    }
    with pytest.raises(Exception, match=r"terminationGracePeriodSeconds must exceed"):
        render_chart(values, "django", "demo")
