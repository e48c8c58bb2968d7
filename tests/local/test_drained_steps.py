"""No step inherits another's queue: a real Locust master + worker against a real loopback server
that serves one request at a time (so overload builds a queue), driven by the run's own window
and drain (capacity/run.py). A step measured right after an overloaded one sees the latency the
same step sees when it runs first; without the drain it would see the queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from capacity.load.client_stats import ClientStep
from capacity.plan import build_plan
from capacity.run import CapacityRun
from capacity.target.base import Endpoints
from tests.local.live_locust import LoopbackServer, running_master

pytestmark = [pytest.mark.live, pytest.mark.timeout(240)]

SERVICE_S = 0.01  # one request at a time, 10 ms each: 100 req/s at most


class QueueServer:
    """A server with one "worker": requests wait for the lock in turn, as in a busy pod."""

    def __init__(self) -> None:
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                with lock:
                    time.sleep(SERVICE_S)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CapacityRun]:
    tmp = Path(tmp_path_factory.mktemp("drain"))
    server = QueueServer()
    with running_master(tmp) as master:
        url = master.url
        plan = build_plan(
            cli={"frameworks": ["fastapi"], "step_duration_s": 6, "settle_s": 1, "warmup_s": 4}
        )
        endpoints = Endpoints({"fastapi": [server.url]}, "http://127.0.0.1:9", url, "local")
        yield CapacityRun(
            plan, endpoints, measurements_path=tmp / "m.jsonl", run_id="drain",
            check_pods=lambda: None, prom=object(), master=master,  # type: ignore[arg-type]
        )  # fmt: skip
        master.stop()
    server.close()


def _step(run: CapacityRun, key: str, rps: float, seed: int) -> ClientStep:
    options = run._options("fastapi", "db-read", step=0, rps=rps, seed=seed, key=key,
                           cap=run._cap(rps))  # fmt: skip
    client, _started, _from, _ended = run._window("fastapi", "db-read", 0, rps, options)
    assert client is not None and client.scheduled > 0
    return client


def _p50(step: ClientStep) -> float:
    p50 = step.percentile_ms(0.5)
    assert p50 is not None
    return p50


def test_a_step_after_an_overloaded_one_measures_what_it_measures_first(run: CapacityRun) -> None:
    drain = run._drain()
    fresh = _step(run, "fresh", rps=40, seed=11)
    run._drain()
    _step(run, "overload-1", rps=300, seed=12)  # 3x what the server serves: a queue builds
    drain = run._drain()
    assert drain.note is None and drain.in_flight_at_start == 0, drain
    after = _step(run, "after", rps=40, seed=11)
    print(f"p50 fresh {_p50(fresh):.0f} ms, after a drained overload {_p50(after):.0f} ms "
          f"(drain {drain.waited_s:.1f} s)")  # fmt: skip
    assert _p50(after) <= _p50(fresh) * 2 + 10, "the drained step saw the earlier queue"
    assert after.counts(100).ratio <= fresh.counts(100).ratio + 0.05


def test_without_the_drain_the_same_step_inherits_the_queue(run: CapacityRun) -> None:
    # The control: the check above can fail. As the run did before it drained, the overload's
    # arrivals run on until the next step starts, so that step begins on the backlog.
    run._drain()
    fresh = _step(run, "fresh-2", rps=40, seed=11)
    run._drain()
    options = run._options("fastapi", "db-read", step=0, rps=300, seed=12, key="",
                           cap=run._cap(300))  # fmt: skip
    run._swarm("fastapi", "db-read", options)
    time.sleep(6)
    inherited = _step(run, "inherited", rps=40, seed=11)
    assert _p50(inherited) > _p50(fresh) * 2 + 10, (
        f"expected the backlog in the undrained step: p50 {_p50(inherited):.0f} ms vs "
        f"{_p50(fresh):.0f} ms fresh"
    )
    run._drain()
