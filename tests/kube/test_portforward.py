"""Port-forwards through the fake API server's WebSocket, including one that drops mid-request."""

from __future__ import annotations

import pytest

from capacity.errors import TargetError
from capacity.metrics.client import connect
from capacity.target.cluster.kubeapi import KubeAccess
from capacity.target.cluster.portforward import PortForward, RetryingPrometheus
from tests.kube.conftest import NS, PromStandIn
from tests.kube.fake_api import FakeKube


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


def test_queries_outlast_more_drops_than_the_http_client_retries(
    kube: FakeKube, access: KubeAccess, prom_standin: PromStandIn
) -> None:
    # prometheus-api-client repeats a request 3 times itself; 5 drops in a row beat that, and
    # RetryingPrometheus repeats the whole query until a tunnel holds.
    with PortForward(access.api, NS, "prometheus", 9090) as pf:
        kube.drop_forwards = 5
        with pytest.raises(Exception):  # noqa: B017 - whichever error requests raises
            connect(pf.url).custom_query("up", params={"time": "1700000000"})
        kube.drop_forwards = 5
        prom = RetryingPrometheus(connect(pf.url))
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
