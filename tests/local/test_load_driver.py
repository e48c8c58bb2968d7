"""The locustfile and its driver: real Locust master + worker, paced load, pods, gauges.

Two tiny HTTP servers stand in for two pods, so the test sees exactly which pod got which
request and how many per second.
"""

from __future__ import annotations

import ast
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from capacity.errors import TargetError
from capacity.load.client_stats import parse_client_step
from capacity.load.driver import LocustMaster, parse_stats
from capacity.load.scenarios import SCENARIO_CLASSES
from capacity.target.local import LOCUSTFILE, locust_commands
from capacity.target.process import ProcessGroup, free_port, wait_http_ok

pytestmark = pytest.mark.timeout(120)


def test_the_locustfile_and_the_kit_name_the_same_scenarios() -> None:
    tree = ast.parse(LOCUSTFILE.read_text())
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    table = next(
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "SCENARIO_CLASSES"
    )
    assert table == SCENARIO_CLASSES
    assert set(table.values()) <= classes


def test_stats_payload_is_read_from_the_aggregated_row() -> None:
    payload = {
        "state": "running",
        "user_count": 12,
        "total_rps": 57.5,
        "current_response_time_percentiles": {"response_time_percentile_0.95": 41},
        "stats": [
            {"name": "/api/items/{id}", "num_requests": 90, "num_failures": 1},
            {"name": "Aggregated", "num_requests": 100, "num_failures": 4},
        ],
        "workers": [{"state": "running", "user_count": 12, "cpu_usage": 35.5}],
    }
    s = parse_stats(payload)
    assert (s.state, s.user_count, s.num_requests, s.num_failures) == ("running", 12, 100, 4)
    assert (s.current_rps, s.current_p95_ms, s.fail_ratio) == (57.5, 41.0, 0.04)
    assert s.workers[0].cpu_percent == 35.5
    assert parse_stats({}).fail_ratio == 0.0


def test_a_garbled_locust_payload_is_refused_naming_the_field() -> None:
    with pytest.raises(TargetError, match=r"/stats/requests: workers\.0\.cpu_usage: .*'lots'"):
        parse_stats({"workers": [{"state": "running", "cpu_usage": "lots"}]})
    with pytest.raises(TargetError, match=r"step 'k': ok: .*'many'"):
        parse_client_step("k", {"scheduled": 3, "ok": "many"})
    with pytest.raises(TargetError, match=r"step 'k': latency_ms\.5: .*1\.5"):
        parse_client_step("k", {"latency_ms": {"5": 1.5}})


# The order in which requests reached the stand-in pods (their urls): one list for all.
ARRIVALS: list[str] = []
ARRIVALS_LOCK = threading.Lock()


class _Pod:
    """A stand-in pod answering 200 to everything and counting requests."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.lock = threading.Lock()
        pod = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real servers

            def do_GET(self) -> None:
                with pod.lock:
                    pod.count[self.path.split("?")[0].rstrip("0123456789")] += 1
                with ARRIVALS_LOCK:
                    ARRIVALS.append(pod.url)
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> int:
        with self.lock:
            n = sum(self.count.values())
            self.count.clear()
        return n


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocustMaster]:
    web_port = free_port()
    master_argv, worker_argv = locust_commands(web_port, free_port())
    with ProcessGroup(Path(tmp_path_factory.mktemp("locust"))) as group:
        m = group.start("locust-master", master_argv)
        group.start("locust-worker-0", worker_argv)
        url = f"http://127.0.0.1:{web_port}"
        wait_http_ok(url + "/stats/requests", m, timeout_s=60)
        api = LocustMaster(url)
        api.wait_ready(1, timeout_s=60)
        yield api
        api.close()


def _gauges(url: str) -> dict[str, tuple[dict[str, str], float]]:
    text = httpx.get(f"{url}/export/prometheus", timeout=5).text
    return {
        s.name: (s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples
    }


def _rate(pods: list[_Pod], seconds: float) -> list[float]:
    for p in pods:
        p.take()
    time.sleep(seconds)
    return [p.take() / seconds for p in pods]


@pytest.mark.live  # a real Locust master + worker
def test_open_arrivals_offer_the_step_rate_split_evenly_over_the_pods(
    master: LocustMaster,
) -> None:
    pods = [_Pod(), _Pod()]
    host = ",".join(p.url for p in pods)
    options: dict[str, str | int | float] = {
        "fwcap_framework": "fastapi", "fwcap_scenario": "db-read", "fwcap_step": 2,
        "fwcap_offered_rps": 40.0, "fwcap_seed": 3, "fwcap_key": "", "fwcap_cap": 100,
        "fwcap_workers": 1,
    }  # fmt: skip
    master.swarm(scenario="db-read", users=1, spawn_rate=1, host=host, options=options)
    try:
        time.sleep(1.5)
        with ARRIVALS_LOCK:
            ARRIVALS.clear()
        per_pod = _rate(pods, 5.0)
        with ARRIVALS_LOCK:
            order = list(ARRIVALS)
        assert sum(per_pod) == pytest.approx(40.0, rel=0.2), per_pod
        # Each arrival goes to a pod at random (as a Service's iptables rule picks an endpoint):
        # half the load each, within binomial noise (about 200 arrivals: sd 7 per pod)...
        n = len(order)
        assert abs(order.count(pods[0].url) - n / 2) <= 4 * (n / 4) ** 0.5, per_pod
        # ... and not dealt in turn: consecutive arrivals hit the same pod about half the time
        # (round-robin would never; sd of the share is about 0.035 here).
        same = sum(a == b for a, b in itertools.pairwise(order)) / max(1, n - 1)
        assert 0.3 < same < 0.7, same
        gauges = _gauges(master.url)
        labels, offered = gauges["fwcap_loadgen_offered_rps"]
        assert labels == {"framework": "fastapi", "scenario": "db-read"}
        assert offered == 40.0
        assert gauges["fwcap_loadgen_step"][1] == 2
        assert gauges["fwcap_loadgen_workers"][1] == 1

        # A new step changes the rate live (no restart needed).
        options.update(fwcap_step=3, fwcap_offered_rps=80.0)
        master.swarm(scenario="db-read", users=1, spawn_rate=1, host=host, options=options)
        time.sleep(1.0)
        assert sum(_rate(pods, 5.0)) == pytest.approx(80.0, rel=0.2)
        stats = master.stats()
        assert stats.state == "running"
        assert stats.num_requests > 0 and stats.fail_ratio == 0.0
        assert all(p.count.keys() <= {"/api/items/"} for p in pods)
    finally:
        master.stop()
    time.sleep(0.5)
    assert _gauges(master.url)["fwcap_loadgen_offered_rps"][1] == 0.0
