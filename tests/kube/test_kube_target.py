"""KubeTarget end to end against the fake API: scale, port-forward, label-based targets, the
cluster plan profile, and the restore on success, failure and Ctrl-C.

Prometheus and the Locust master are loopback stand-ins behind the fake's port-forward, each
answering the JSON of its real API (/api/v1/targets and /api/v1/query; /stats/requests).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import signal
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from capacity.errors import TargetError
from capacity.interrupts import Interrupted, cancellation
from capacity.interrupts import sleep as cancellable_sleep
from capacity.plan import build_plan
from capacity.target.deployed import (
    ClusterOptions,
    DeployedLimits,
    KubeTarget,
    container_limits,
    service_of,
)
from capacity.target.k8s.kubeapi import KubeAccess
from capacity.target.k8s.stack import StackOutputs
from tests.kube.conftest import NS, StandIn, labels
from tests.kube.fake_api import FakeKube, pod, service
from tests.kube.test_scale import hpa_bounds, replicas

OUTPUTS = StackOutputs(
    stack="dev",
    namespace=NS,
    service_urls={
        "django": "http://django.fwcap.svc:8000",
        "fastapi": "http://fastapi.fwcap.svc:8000",
    },
    prometheus_url="http://prometheus.fwcap.svc:9090",
    locust_url="http://locust-master.fwcap.svc:8089",
    grafana_url=None,
    kube_context=None,
)


class Cluster:
    """Stand-ins for the in-cluster Prometheus and Locust master, registered with the fake."""

    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube
        self.prom = StandIn({"/api/v1/targets": self.targets, "/api/v1/query": self.query})
        self.locust = StandIn(
            {
                "/stats/requests": lambda: {
                    "state": "ready",
                    "user_count": 0,
                    "total_rps": 0,
                    "stats": [],
                    "workers": [{"id": "w", "state": "ready", "user_count": 0, "cpu_usage": 2}],
                }
            }
        )
        kube.add(service("locust-master", NS, labels("locust-master", "locust-master"), 8089))
        kube.add(pod("locust-master-0", NS, labels("locust-master", "locust-master")))
        kube.backends[("prometheus-0", 9090)] = self.prom.address
        kube.backends[("locust-master-0", 8089)] = self.locust.address

    def targets(self) -> dict[str, Any]:
        active = []
        for (ns, name), p in self.kube.store["pods"].items():
            meta = p["metadata"]["labels"]
            if ns == NS and meta.get("app.kubernetes.io/component") == "service":
                active.append(
                    {
                        "discoveredLabels": {
                            "__meta_kubernetes_pod_label_app_kubernetes_io_component": "service",
                            "__meta_kubernetes_pod_label_app_kubernetes_io_name": meta[
                                "app.kubernetes.io/name"
                            ],
                        },
                        "labels": {"job": "services", "namespace": NS, "pod": name},
                        "scrapeUrl": f"http://{p['status']['podIP']}:8000/metrics",
                        "health": "up",
                        "lastError": "",
                        "scrapeInterval": "5s",
                    }
                )
        active.append(
            {
                "labels": {"job": "cadvisor"},
                "scrapeUrl": "https://k/api/v1/nodes/n/proxy/metrics/cadvisor",
                "health": "up",
                "scrapeInterval": "5s",
            }
        )
        active.append(
            {
                "labels": {"job": "loadgen", "namespace": NS},
                "health": "up",
                "scrapeUrl": "http://10.0.0.9:8089/export/prometheus",
                "scrapeInterval": "5s",
            }
        )
        return {"status": "success", "data": {"activeTargets": active, "droppedTargets": []}}

    def query(self) -> dict[str, Any]:
        # The refresh probe on idle pods, as a kubelet serves it: cAdvisor stamps each value with
        # the time it was read, so Prometheus holds one sample per 10 s refresh even though the
        # 5 s scrapes see each twice, and an idle counter never changes.
        last = self.prom.queries[-1]
        expr = (parse_qs(urlsplit(last).query).get("query") or [""])[0]
        metric = {"pod": "django-x"}
        if expr.startswith("changes("):
            result: dict[str, Any] = {
                "resultType": "vector",
                "result": [{"metric": metric, "value": [1000.0, "0"]}],
            }
        else:
            samples = [[880.0 + 10 * i, "4.2"] for i in range(13)]
            result = {"resultType": "matrix", "result": [{"metric": metric, "values": samples}]}
        return {"status": "success", "data": result}

    def close(self) -> None:
        self.prom.close()
        self.locust.close()


@pytest.fixture
def cluster(kube: FakeKube) -> Iterator[Cluster]:
    c = Cluster(kube)
    yield c
    c.close()


def make(access: KubeAccess, **plan: Any) -> KubeTarget:
    return KubeTarget(
        build_plan(cli={"replicas": 1, **plan}),
        ClusterOptions(stack="dev"),
        OUTPUTS,
        access=access,
        ready_timeout_s=5,
        targets_timeout_s=10,
    )


def test_entering_scales_forwards_and_fits_the_plan_and_leaving_restores(
    kube: FakeKube, access: KubeAccess, cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="capacity")
    target = make(access)
    with target as endpoints:
        assert replicas(kube, "django") == 1 and replicas(kube, "fastapi") == 1
        assert replicas(kube, "locust-worker") == 1
        assert hpa_bounds(kube, "django") == (1, 1)
        # Pod IPs: the in-cluster Locust master sends to each pod directly.
        assert all(u[0].startswith("http://10.244.0.") for u in endpoints.service_urls.values())
        assert [p.framework for p in endpoints.pods] == ["django", "fastapi"]
        # Prometheus and Locust answer on loopback through the port-forwards.
        assert endpoints.prometheus_url.startswith("http://127.0.0.1:")
        stats = httpx.get(endpoints.locust_url + "/stats/requests", timeout=10).json()
        assert stats["workers"][0]["state"] == "ready"
        fitted = target.effective_plan
        assert target.timing is not None and target.timing.cadvisor_refresh_s == 10
        assert target.timing.measured
        assert fitted is not None and fitted.step_duration_s == 32  # 2 s settle + 3 x 10 s
        assert fitted.scrape_interval_s == 10  # a refresh before reading a finished step
        target.check_pods()
    assert replicas(kube, "django") == 3 and replicas(kube, "fastapi") == 3
    assert replicas(kube, "locust-worker") == 2
    assert hpa_bounds(kube, "django") == (2, 6)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Locust workers" in line and "node-a" in line for line in warned)


def test_the_locust_credentials_come_from_the_stack_else_from_the_programs_secret(
    kube: FakeKube, access: KubeAccess, cluster: Cluster
) -> None:
    """deploy/locust.py puts the master's web API behind Basic auth: the driver must carry the
    stack's credentials, or (no Pulumi: --namespace) those of the Secret the program creates."""
    with_auth = dataclasses.replace(OUTPUTS, locust_auth=("fwcap", "from-the-stack"))
    target = KubeTarget(
        build_plan(cli={"replicas": 1}), ClusterOptions(stack="dev"), with_auth,
        access=access, ready_timeout_s=5, targets_timeout_s=10,
    )  # fmt: skip
    with target as endpoints:
        assert endpoints.locust_auth == ("fwcap", "from-the-stack")
    no_stack = KubeTarget(
        build_plan(cli={"replicas": 1}), ClusterOptions(namespace=NS), None,
        access=access, ready_timeout_s=5, targets_timeout_s=10,
    )  # fmt: skip
    with no_stack as endpoints:
        assert endpoints.locust_auth is None  # no Secret: a master deployed without the plugin
    kube.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "locust-web-auth", "namespace": NS},
            "data": {
                "user": base64.b64encode(b"fwcap").decode(),
                "password": base64.b64encode(b"from-the-secret").decode(),
            },
        }
    )
    with no_stack as endpoints:
        assert endpoints.locust_auth == ("fwcap", "from-the-secret")


def test_failure_inside_the_run_restores(
    kube: FakeKube, access: KubeAccess, cluster: Cluster
) -> None:
    target = make(access)
    with pytest.raises(TargetError, match=r"pod .* restarted"), target:
        for (ns, _name), p in kube.store["pods"].items():
            if ns == NS and p["metadata"]["labels"].get("app.kubernetes.io/name") == "django":
                p["status"]["containerStatuses"][0]["restartCount"] = 1  # OOMKilled, say
        target._checked_s = 0.0
        target.check_pods()
    assert replicas(kube, "django") == 3 and hpa_bounds(kube, "django") == (2, 6)


def test_ctrl_c_inside_the_run_restores(
    kube: FakeKube, access: KubeAccess, cluster: Cluster
) -> None:
    target = make(access)
    with pytest.raises(Interrupted), cancellation(), target:
        assert replicas(kube, "django") == 1
        os.kill(os.getpid(), signal.SIGINT)
        cancellable_sleep(10)  # the run's next wait: where the Ctrl-C takes effect
        pytest.fail("SIGINT did not interrupt")
    assert replicas(kube, "django") == 3 and replicas(kube, "fastapi") == 3
    assert hpa_bounds(kube, "django") == (2, 6)


def test_a_step_set_too_short_for_cadvisor_stops_before_any_load(
    kube: FakeKube, access: KubeAccess, cluster: Cluster
) -> None:
    target = make(access, step_duration_s=7)
    target.step_given = True
    with pytest.raises(Exception, match=r"--step-duration 7 is too short .* at least 32 s"):
        target.__enter__()
    assert not [q for q in cluster.locust.queries if "swarm" in q]
    assert replicas(kube, "django") == 3, "restored on the way out"


def test_the_pods_record_the_limits_their_deployment_sets_and_a_difference_is_warned(
    kube: FakeKube, access: KubeAccess, cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    # The stack deployed fastapi with fwcap:cpu 250m / fwcap:memory 256Mi; the plan says 500m.
    container = kube.store["deployments"][(NS, "fastapi")]["spec"]["template"]["spec"]
    container["containers"][0]["resources"] = {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "250m", "memory": "256Mi"},
    }
    caplog.set_level(logging.INFO, logger="capacity")
    with make(access, cpu="500m", memory="512Mi") as endpoints:
        fastapi, django = endpoints.pods_of("fastapi")[0], endpoints.pods_of("django")[0]
    assert (fastapi.cpu_limit_millicores, fastapi.memory_limit_bytes) == (250, 256 * 2**20)
    assert (django.cpu_limit_millicores, django.memory_limit_bytes) == (500, 512 * 2**20)
    assert fastapi.limits_enforced and django.limits_enforced
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [line for line in warned if "not the plan's" in line] == [
        "deployments/fastapi runs its pods with CPU limit 250m and memory limit 256Mi, not the "
        "plan's 500m and 512Mi: the records carry the deployed limits (set fwcap:cpu and "
        "fwcap:memory in the stack, or --cpu/--memory, to make them agree)"
    ]


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ([("fastapi", {"cpu": "1", "memory": "1Gi"})], DeployedLimits(1000, 2**30)),
        ([("app", {"cpu": "250m", "memory": "128Mi"})], DeployedLimits(250, 128 * 2**20)),
        ([("sidecar", {}), ("fastapi", {"cpu": "2"})], DeployedLimits(2000, None)),
        ([("fastapi", {})], DeployedLimits(None, None)),
    ],
)
def test_a_containers_limits_are_read_from_its_pod_template(
    containers: list[tuple[str, dict[str, str]]], expected: DeployedLimits
) -> None:
    template = [
        SimpleNamespace(name=name, resources=SimpleNamespace(limits=limits or None))
        for name, limits in containers
    ]
    limits = container_limits(template, "fastapi")
    assert limits == expected
    assert limits.enforced == (None not in (expected.cpu_millicores, expected.memory_bytes))


def test_a_missing_deployment_changes_nothing(
    kube: FakeKube, access: KubeAccess, cluster: Cluster
) -> None:
    del kube.store["deployments"][(NS, "fastapi")]
    target = make(access)
    with pytest.raises(TargetError, match="name=fastapi"):
        target.__enter__()
    assert not [r for r in kube.requests if r[0] == "patch"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://prometheus.fwcap.svc:9090", ("prometheus", "fwcap", 9090)),
        (
            "http://kps-prometheus.monitoring.svc.cluster.local:9090",
            ("kps-prometheus", "monitoring", 9090),
        ),
        ("http://locust-master:8089", ("locust-master", "fwcap", 8089)),
        ("https://prometheus.obs.svc", ("prometheus", "obs", 443)),
    ],
)
def test_in_cluster_urls_name_the_service_and_its_namespace(
    url: str, expected: tuple[str, str, int]
) -> None:
    assert service_of(url, "fwcap") == expected
