"""Scrape targets told apart by labels: the bundled Prometheus and kube-prometheus-stack both
work, unrelated targets (even down ones) are ignored, and a down target of the run is named.

The target entries are shaped as Prometheus' /api/v1/targets returns them (labels after
relabelling, discoveredLabels before it, scrapeUrl, health, lastError, scrapeInterval).
"""

from __future__ import annotations

from typing import Any

import pytest

from capacity.errors import TargetError
from capacity.target.k8s.scrape import classify, wait_for_kit_targets

NS = "fwcap"
FW = ("django", "fastapi")


def target(
    job: str,
    url: str,
    labels: dict[str, str],
    discovered: dict[str, str] | None = None,
    health: str = "up",
    error: str = "",
) -> dict[str, Any]:
    return {
        "discoveredLabels": discovered or {},
        "labels": {"job": job, **labels},
        "scrapePool": job,
        "scrapeUrl": url,
        "health": health,
        "lastError": error,
        "scrapeInterval": "5s",
    }


def pod_meta(component: str, name: str) -> dict[str, str]:
    return {
        "__meta_kubernetes_pod_label_app_kubernetes_io_component": component,
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": name,
    }


def bundled() -> list[dict[str, Any]]:
    """The jobs of capacity/metrics/prometheus.yml.j2 in mode kubernetes."""
    return [
        *(
            target(
                "services",
                f"http://10.0.0.{i}:8000/metrics",
                {"namespace": NS, "pod": f"{fw}-abc", "container": fw},
                pod_meta("service", fw),
            )
            for i, fw in enumerate(FW)
        ),
        target(
            "cadvisor",
            "https://kubernetes.default.svc:443/api/v1/nodes/n1/proxy/metrics/cadvisor",
            {"instance": "kubernetes.default.svc:443"},
        ),
        target(
            "loadgen",
            "http://10.0.0.9:8089/export/prometheus",
            {"namespace": NS, "pod": "locust-master-x", "container": "locust"},
            pod_meta("locust-master", "locust-master"),
        ),
    ]


def kube_prometheus_stack() -> list[dict[str, Any]]:
    """ServiceMonitor jobs and the `kubelet` job, as a kube-prometheus-stack names them."""
    return [
        *(
            target(
                fw,
                f"http://10.1.0.{i}:8000/metrics",
                {
                    "namespace": NS,
                    "pod": f"{fw}-xyz",
                    "container": fw,
                    "service": fw,
                    "endpoint": "http",
                },
                pod_meta("service", fw),
            )
            for i, fw in enumerate(FW)
        ),
        target(
            "kubelet",
            "https://172.18.0.2:10250/metrics/cadvisor",
            {"metrics_path": "/metrics/cadvisor", "node": "n1", "namespace": "kube-system"},
        ),
        target(
            "kubelet",
            "https://172.18.0.2:10250/metrics",
            {"metrics_path": "/metrics", "node": "n1", "namespace": "kube-system"},
        ),
        target(
            "locust-master",
            "http://10.1.0.9:8089/export/prometheus",
            {
                "namespace": NS,
                "pod": "locust-master-y",
                "container": "locust",
                "service": "locust-master",
            },
            pod_meta("locust-master", "locust-master"),
        ),
    ]


def unrelated_down() -> list[dict[str, Any]]:
    return [
        target(
            "alertmanager",
            "http://10.2.0.1:9093/metrics",
            {"namespace": "monitoring"},
            health="down",
            error="connection refused",
        ),
        target(
            "other-app",
            "http://10.2.0.2:8000/metrics",
            {"namespace": "shop", "pod": "django-shop", "container": "django"},
            pod_meta("service", "django"),
            health="down",
            error="timeout",
        ),
    ]


def answer(active: list[dict[str, Any]]) -> Any:
    return lambda _url: {"status": "success", "data": {"activeTargets": active}}


@pytest.mark.parametrize("layout", [bundled, kube_prometheus_stack], ids=["bundled", "kps"])
def test_the_kits_targets_are_found_by_labels_with_unrelated_ones_down(layout: Any) -> None:
    found = wait_for_kit_targets(
        "http://prom",
        NS,
        FW,
        dict.fromkeys(FW, 1),
        timeout_s=0,
        get=answer(layout() + unrelated_down()),
    )
    roles = sorted(t.role for t in found)
    assert roles == ["cadvisor", "loadgen", "service:django", "service:fastapi"]
    assert all(t.up for t in found)
    assert {t.base_url for t in found if t.role.startswith("service")} <= {
        "http://10.0.0.0:8000",
        "http://10.0.0.1:8000",
        "http://10.1.0.0:8000",
        "http://10.1.0.1:8000",
    }


def test_a_same_named_app_in_another_namespace_is_not_the_kits() -> None:
    roles = [t.role for t in classify(unrelated_down(), NS, FW)]
    assert roles == []


def test_a_down_target_of_the_run_is_waited_for_and_named() -> None:
    active = bundled()
    active[1] = {**active[1], "health": "down", "lastError": "context deadline exceeded"}
    with pytest.raises(TargetError) as e:
        wait_for_kit_targets(
            "http://prom",
            NS,
            FW,
            dict.fromkeys(FW, 1),
            timeout_s=0,
            get=answer(active + unrelated_down()),
        )
    message = str(e.value)
    assert "fastapi: 0 of 1 pod(s) scraped" in message
    assert "context deadline exceeded" in message
    assert "alertmanager" not in message and "shop" not in message


def test_all_replicas_must_be_scraped() -> None:
    with pytest.raises(TargetError, match="django: 1 of 2 pod"):
        wait_for_kit_targets(
            "http://prom", NS, FW, {"django": 2, "fastapi": 1}, timeout_s=0, get=answer(bundled())
        )


def test_missing_cadvisor_and_loadgen_are_named() -> None:
    services_only = bundled()[:2]
    with pytest.raises(TargetError) as e:
        wait_for_kit_targets(
            "http://prom", NS, FW, dict.fromkeys(FW, 1), timeout_s=0, get=answer(services_only)
        )
    assert "no cAdvisor target" in str(e.value) and "Locust master" in str(e.value)
