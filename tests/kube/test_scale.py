"""Scale-and-restore against the fake API: replicas and HPA come back after success, failure
and Ctrl-C; RBAC refusals, a missing Deployment and pods that never get ready are named."""

from __future__ import annotations

import os
import signal

import pytest

from capacity.errors import TargetError
from capacity.interrupts import Interrupted, cancellation
from capacity.interrupts import sleep as cancellable_sleep
from capacity.target.k8s.kubeapi import KubeAccess
from capacity.target.k8s.scale import ORIGINAL_ANNOTATION, Scaler
from tests.kube.conftest import NS, labels
from tests.kube.fake_api import FakeKube, deployment


def replicas(kube: FakeKube, name: str) -> int:
    return int(kube.get("deployments", name, NS)["spec"]["replicas"])


def annotations(kube: FakeKube, name: str) -> dict[str, str]:
    return dict(kube.get("deployments", name, NS)["metadata"].get("annotations") or {})


def hpa_bounds(kube: FakeKube, name: str) -> tuple[int | None, int]:
    spec = kube.get("horizontalpodautoscalers", name, NS)["spec"]
    return spec.get("minReplicas"), spec["maxReplicas"]


def ready_pods(kube: FakeKube, app: str) -> int:
    return sum(
        1
        for (ns, _), p in kube.store["pods"].items()
        if ns == NS
        and p["metadata"]["labels"].get("app.kubernetes.io/name") == app
        and p["status"]["conditions"][0]["status"] == "True"
    )


def scaled(access: KubeAccess) -> Scaler:
    return Scaler(access.api, NS, poll_s=0.05)


def test_scale_pins_the_hpa_then_success_restores_replicas_and_hpa(
    kube: FakeKube, access: KubeAccess
) -> None:
    scaler = scaled(access)
    scaler.scale(scaler.find("service", "django"), 1, timeout_s=5)
    scaler.scale(scaler.find("service", "fastapi"), 2, timeout_s=5)
    assert (replicas(kube, "django"), replicas(kube, "fastapi")) == (1, 2)
    assert ready_pods(kube, "django") == 1 and ready_pods(kube, "fastapi") == 2
    assert hpa_bounds(kube, "django") == (1, 1), "the HPA cannot scale back mid-step"
    assert scaler.restore() == []
    assert (replicas(kube, "django"), replicas(kube, "fastapi")) == (3, 3)
    assert hpa_bounds(kube, "django") == (2, 6)
    # Restored last-touched first, so the HPA is back only after its Deployment is; each
    # Deployment's record is removed once both are back.
    patches = [path for verb, path in kube.requests if verb == "patch"]
    assert patches[-5:] == [
        "deployments/fastapi",  # replicas
        "deployments/fastapi",  # its record
        "deployments/django",
        "horizontalpodautoscalers/django",
        "deployments/django",
    ]
    assert all(ORIGINAL_ANNOTATION not in annotations(kube, d) for d in ("django", "fastapi"))


def test_failure_mid_measurement_restores(kube: FakeKube, access: KubeAccess) -> None:
    scaler = scaled(access)
    with pytest.raises(RuntimeError, match="boom"):
        try:
            scaler.scale("django", 1, timeout_s=5)
            raise RuntimeError("boom")
        finally:
            scaler.restore()
    assert replicas(kube, "django") == 3 and hpa_bounds(kube, "django") == (2, 6)


def test_sigint_mid_measurement_restores(kube: FakeKube, access: KubeAccess) -> None:
    scaler = scaled(access)
    with pytest.raises(Interrupted), cancellation():
        try:
            scaler.scale("django", 1, timeout_s=5)
            assert hpa_bounds(kube, "django") == (1, 1)
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, delivered to this process
            cancellable_sleep(10)  # the run's next wait: where the Ctrl-C takes effect
            pytest.fail("SIGINT did not interrupt")
        finally:
            scaler.restore()
    assert replicas(kube, "django") == 3 and hpa_bounds(kube, "django") == (2, 6)


def test_pods_that_never_get_ready_are_named_with_their_reason_and_restored(
    kube: FakeKube, access: KubeAccess
) -> None:
    kube.never_ready.add("fastapi")  # e.g. an image the nodes cannot pull
    kube.add(deployment("fastapi", NS, labels("service", "fastapi"), replicas=0))
    scaler = scaled(access)
    with pytest.raises(TargetError) as e:
        scaler.scale("fastapi", 1, timeout_s=0.5)
    assert "deployment fastapi: 0 of 1 pod(s) ready after 0s" in str(e.value)
    assert "ImagePullBackOff" in str(e.value) and "fwcap/x:1" in str(e.value)
    assert scaler.restore() == []
    assert replicas(kube, "fastapi") == 0


def test_forbidden_scale_names_the_verb_resource_and_fix(
    kube: FakeKube, access: KubeAccess
) -> None:
    kube.forbidden.add(("patch", "deployments"))
    scaler = scaled(access)
    with pytest.raises(TargetError) as e:
        scaler.scale("django", 1, timeout_s=5)
    message = str(e.value)
    assert message.startswith("forbidden: the kubeconfig's user may not patch deployments/django")
    assert "namespace fwcap (RBAC)" in message and "rolebinding" in message
    # The record is written before anything changes: refused, nothing was changed at all.
    assert ("patch", "horizontalpodautoscalers/django") not in kube.requests
    assert scaler.restore() == []
    assert hpa_bounds(kube, "django") == (2, 6) and replicas(kube, "django") == 3


def test_a_missing_deployment_is_reported_before_anything_changes(
    kube: FakeKube, access: KubeAccess
) -> None:
    del kube.store["deployments"][(NS, "fastapi")]
    scaler = scaled(access)
    with pytest.raises(TargetError, match=r"no Deployment labelled .*name=fastapi in namespace"):
        scaler.find("service", "fastapi")
    assert not [r for r in kube.requests if r[0] == "patch"]


def test_reading_a_deployment_that_vanished_says_not_found(
    kube: FakeKube, access: KubeAccess
) -> None:
    scaler = scaled(access)
    with pytest.raises(TargetError, match="not found: get deployments/nosuch in namespace fwcap"):
        scaler.scale("nosuch", 1, timeout_s=1)
