"""Port-forwards through the fake API server's WebSocket, including one that drops mid-request,
and to the pod port a Service's targetPort names (80 -> 9090, by number or by name)."""

from __future__ import annotations

import pytest
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.prometheus_connect import MAX_REQUEST_RETRIES, RETRY_ON_STATUS
from urllib3.util.retry import Retry

from capacity.errors import TargetError
from capacity.metrics.client import connect
from capacity.target.k8s.kubeapi import KubeAccess
from capacity.target.k8s.portforward import PortForward, RetryingPrometheus
from tests.kube.conftest import NS, PromStandIn, StandIn
from tests.kube.fake_api import FakeKube, pod, service


def test_prometheus_answers_through_the_tunnel(
    kube: FakeKube, access: KubeAccess, prom_standin: PromStandIn
) -> None:
    with PortForward(access.api, NS, "prometheus", 9090) as pf:
        result = connect(pf.url).custom_query("up", params={"time": "1700000000"})
    assert result[0]["value"][1] == "123.5"
    assert ("portforward", "pods/prometheus-0:9090") in kube.requests
    assert prom_standin.queries, "the query reached the pod's port"


def test_a_tunnel_dropped_mid_query_is_reopened_and_the_query_retried(
    kube: FakeKube, access: KubeAccess, prom_standin: PromStandIn
) -> None:
    with PortForward(access.api, NS, "prometheus", 9090) as pf:
        kube.drop_forwards = 1  # the next tunnel breaks after the request is sent
        prom = RetryingPrometheus(connect(pf.url))
        result = prom.custom_query("up", params={"time": "1700000000"})
        opened = pf.tunnels_opened
    assert result[0]["value"][1] == "123.5", "nothing lost: the same query answered in full"
    assert kube.drop_forwards == 0, "the tunnel did drop"
    assert opened >= 2, "a new tunnel was opened after the drop"


def _connect_without_backoff(url: str) -> PrometheusConnect:
    """`connect(url)` with the client's own retries kept (3) and their backoff (0 + 2 + 4 s
    before the 2nd, 3rd and 4th try) dropped: what is counted is tries, not seconds."""
    return PrometheusConnect(
        url=url, disable_ssl=True, timeout=10,
        retry=Retry(total=MAX_REQUEST_RETRIES, backoff_factor=0, status_forcelist=RETRY_ON_STATUS),
    )  # fmt: skip


def test_the_client_without_backoff_is_connect_but_for_the_backoff() -> None:
    ours, theirs = connect("http://x:9"), _connect_without_backoff("http://x:9")
    retry, same = (c._session.get_adapter("http://x:9").max_retries for c in (ours, theirs))
    assert (ours._timeout, ours._session.verify) == (theirs._timeout, theirs._session.verify)
    assert (same.total, same.status_forcelist) == (retry.total, retry.status_forcelist) == (
        3, RETRY_ON_STATUS
    )  # fmt: skip
    assert retry.backoff_factor > 0 and same.backoff_factor == 0


def test_queries_outlast_more_drops_than_the_http_client_retries(
    kube: FakeKube, access: KubeAccess, prom_standin: PromStandIn
) -> None:
    # prometheus-api-client repeats a request 3 times itself; 5 drops in a row beat that, and
    # RetryingPrometheus repeats the whole query until a tunnel holds.
    with PortForward(access.api, NS, "prometheus", 9090) as pf:
        kube.drop_forwards = 5
        with pytest.raises(Exception):  # noqa: B017 - whichever error requests raises
            _connect_without_backoff(pf.url).custom_query("up", params={"time": "1700000000"})
        assert kube.drop_forwards == 1, "the client tried 4 times, each through a new tunnel"
        kube.drop_forwards = 5
        prom = RetryingPrometheus(_connect_without_backoff(pf.url))
        result = prom.custom_query("up", params={"time": "1700000000"})
    assert result[0]["value"][1] == "123.5"
    assert prom.retries >= 1


def test_forbidden_port_forward_is_reported_before_any_load(
    kube: FakeKube, access: KubeAccess, prom_standin: PromStandIn
) -> None:
    kube.forbidden.add(("create", "pods/portforward"))
    refused = r"forbidden: .* may not create pods/prometheus-0/portforward in namespace fwcap"
    with pytest.raises(TargetError, match=refused):
        PortForward(access.api, NS, "prometheus", 9090).__enter__()


def test_a_service_without_ready_pods_is_named(kube: FakeKube, access: KubeAccess) -> None:
    kube.get("pods", "prometheus-0", NS)["status"]["conditions"][0]["status"] = "False"
    with pytest.raises(TargetError, match="service prometheus in namespace fwcap has no ready pod"):
        PortForward(access.api, NS, "prometheus", 9090).__enter__()


def _existing_prometheus(kube: FakeKube, target_port: int | str) -> None:
    """A kube-prometheus-stack-like Prometheus in `monitoring`: Service port 80 -> pod 9090."""
    selector = {"app.kubernetes.io/name": "prometheus"}
    svc = service("kps-prometheus", "monitoring", selector, 80)
    svc["spec"]["ports"][0]["targetPort"] = target_port
    kube.add(svc)
    kube.add(
        pod("prometheus-kps-0", "monitoring", selector,
            containers=[{"name": "prometheus", "image": "prom/prometheus:v3.5.0",
                         "ports": [{"name": "http-web", "containerPort": 9090}]}])
    )  # fmt: skip


@pytest.mark.parametrize("target_port", [9090, "9090", "http-web"])
def test_the_service_port_is_resolved_to_the_pods_target_port(
    kube: FakeKube, access: KubeAccess, target_port: int | str
) -> None:
    _existing_prometheus(kube, target_port)
    standin = StandIn()
    kube.backends[("prometheus-kps-0", 9090)] = standin.address
    try:
        with PortForward(access.api, "monitoring", "kps-prometheus", 80) as pf:
            result = connect(pf.url).custom_query("up", params={"time": "1700000000"})
            assert pf.remote_port == 9090
    finally:
        standin.close()
    assert result[0]["value"][1] == "123.5"
    assert ("portforward", "pods/prometheus-kps-0:9090") in kube.requests
    assert ("portforward", "pods/prometheus-kps-0:80") not in kube.requests


def test_a_target_port_the_pod_does_not_declare_or_a_wrong_service_port_is_named(
    kube: FakeKube, access: KubeAccess
) -> None:
    _existing_prometheus(kube, "metrics")
    with pytest.raises(TargetError, match="targets the port named 'metrics', which pod"):
        PortForward(access.api, "monitoring", "kps-prometheus", 80).__enter__()
    with pytest.raises(TargetError, match=r"has no port 9090 \(its ports: 80\)"):
        PortForward(access.api, "monitoring", "kps-prometheus", 9090).__enter__()
