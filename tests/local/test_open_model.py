"""The open arrival model on a real Locust master + worker against a tiny real HTTP server.

The acceptance test of coordinated omission: a server that stalls for 2 s in the middle of a
step. The open model times each request from its intended send time, so the client-side p95
shows the stall; a closed loop (users that wait for each answer and time from the late send,
as the kit's old paced users did) sees only the few requests caught in the stall.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from capacity.load.client_stats import ClientStep, percentile_ms
from capacity.load.driver import LocustMaster
from tests.local.live_locust import LoopbackServer, running_master

pytestmark = [pytest.mark.live, pytest.mark.timeout(180)]  # a real Locust master + worker


class StallingServer:
    """Answers 200 after `delay_s` (0: at once), except that requests arriving in
    [stall_from, stall_until) wait until stall_until (a GC pause, a lock, a full thread pool)."""

    def __init__(self) -> None:
        self.stall_from = self.stall_until = 0.0
        self.delay_s = 0.0
        self.paths: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs

            def _answer(self) -> None:
                now = time.time()
                if server.stall_from <= now < server.stall_until:
                    time.sleep(server.stall_until - now)
                elif server.delay_s:
                    time.sleep(server.delay_s)
                with server.lock:
                    server.paths.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocustMaster]:
    with running_master(Path(tmp_path_factory.mktemp("locust"))) as api:
        yield api


@pytest.fixture
def server() -> Iterator[StallingServer]:
    s = StallingServer()
    yield s
    s.close()


def _run_open(
    master: LocustMaster, host: str, *, key: str, rps: float, seconds: float, seed: int = 7,
    cap: int = 1000, scenario: str = "db-read", during: object = None, users: int = 1,
    slo_ms: float = 0.0, at_end: Callable[[], None] | None = None,
) -> ClientStep:  # fmt: skip
    options: dict[str, str | int | float] = {
        "fwcap_framework": "fastapi", "fwcap_scenario": scenario, "fwcap_step": 0,
        "fwcap_offered_rps": rps, "fwcap_seed": seed, "fwcap_key": key, "fwcap_cap": cap,
        "fwcap_settle_s": 0.0, "fwcap_workers": 1, "fwcap_slo_ms": slo_ms,
    }  # fmt: skip
    master.swarm(scenario=scenario, users=users, spawn_rate=users, host=host, options=options)
    try:
        if callable(during):
            during()
        time.sleep(seconds)
        if at_end is not None:
            at_end()  # while the step's arrivals still run
        # End the step: a new key tallies nothing under the old one.
        master.swarm(scenario=scenario, users=users, spawn_rate=users, host=host,
                     options={**options, "fwcap_offered_rps": 0.0, "fwcap_key": ""})  # fmt: skip
        deadline = time.monotonic() + 15
        step = master.client_step(key)
        while time.monotonic() < deadline:
            time.sleep(1.2)  # workers report once a second
            step = master.client_step(key)
            if step.in_flight == 0 and step.scheduled > 0:
                break
        return step
    finally:
        master.stop()
        time.sleep(0.3)


def _closed_loop_p95_ms(url: str, *, users: int, rps_per_user: float, seconds: float) -> float:
    """The old model: each user paces its sends and waits for each answer, timed from the send."""
    latencies: list[float] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def user() -> None:
        with httpx.Client(timeout=10) as client:
            next_send = time.monotonic()
            while next_send < end:
                time.sleep(max(0.0, next_send - time.monotonic()))
                sent = time.monotonic()
                client.get(f"{url}/api/items/1")
                with lock:
                    latencies.append((time.monotonic() - sent) * 1000)
                # constant_pacing: the next start one period after this one, or now if late.
                next_send = max(next_send + 1 / rps_per_user, time.monotonic())

    threads = [threading.Thread(target=user) for _ in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hist: dict[int, int] = {}
    for ms in latencies:
        hist[int(ms) + 1] = hist.get(int(ms) + 1, 0) + 1
    p95 = percentile_ms(hist, 0.95)
    assert p95 is not None
    return p95


def test_a_2s_stall_mid_step_shows_in_the_open_models_p95_and_hides_in_a_closed_loop(
    master: LocustMaster, server: StallingServer
) -> None:
    def stall_in_the_middle() -> None:
        now = time.time()
        server.stall_from, server.stall_until = now + 3.0, now + 5.0

    step = _run_open(master, server.url, key="stall-open", rps=40.0, seconds=8.0,
                     during=stall_in_the_middle)  # fmt: skip
    p95 = step.percentile_ms(0.95)
    assert step.scheduled > 200 and step.failed == 0 and step.dropped == 0, step
    # A quarter of the arrivals were due during the stall; each waited up to 2 s.
    assert p95 is not None and p95 > 1000, f"open-model p95 {p95} ms hides the 2 s stall"
    assert step.counts(100.0).ratio > 0.15, step.counts(100.0)

    # The same stall against closed users offering the same 40 req/s: 4 users, 10 req/s each.
    stall_in_the_middle()
    closed_p95 = _closed_loop_p95_ms(server.url, users=4, rps_per_user=10.0, seconds=8.0)
    print(f"2 s stall: open-model client p95 {p95:.0f} ms, closed-loop p95 {closed_p95:.0f} ms")
    # Only the few requests in flight at the stall saw it: the closed loop's p95 stays far
    # under the stall (the bound leaves room for a busy machine's own noise).
    assert closed_p95 < min(400.0, p95 / 4), f"closed-loop p95 {closed_p95} ms saw the stall"


def test_arrivals_follow_the_rate_and_one_seed_is_one_request_sequence(
    master: LocustMaster, server: StallingServer
) -> None:
    first = _run_open(master, server.url, key="seq-a", rps=60.0, seconds=4.0, seed=11)
    paths_a = list(server.paths)
    server.paths.clear()
    second = _run_open(master, server.url, key="seq-b", rps=60.0, seconds=4.0, seed=11)
    paths_b = list(server.paths)
    assert first.offered_rps == pytest.approx(60.0, rel=0.25)
    assert first.achieved_rps == pytest.approx(first.offered_rps, rel=0.1)
    assert second.scheduled > 150
    # The server's threads may log two near-simultaneous requests in either order.
    assert set(paths_a[:100]) <= set(paths_b[:120]), "the same seed must send the same requests"
    server.paths.clear()
    _run_open(master, server.url, key="seq-c", rps=60.0, seconds=2.0, seed=12)
    assert server.paths[:50] != paths_a[:50], "another seed must send another sequence"


def test_arrivals_beyond_the_in_flight_cap_are_dropped_and_count_as_failures(
    master: LocustMaster, server: StallingServer
) -> None:
    now = time.time()
    server.stall_from, server.stall_until = now, now + 4.0  # every request waits
    step = _run_open(master, server.url, key="cap", rps=50.0, seconds=3.0, cap=5)
    assert step.dropped > 50, step
    assert step.error_ratio > 0.5
    assert step.counts(100.0).over_slo >= step.dropped
    # Per request name: every arrival counted, the dropped ones among those over the SLO.
    assert sum(n for n, _over in step.by_name.values()) == step.scheduled
    assert step.dropped <= sum(over for _n, over in step.by_name.values()) <= step.scheduled
    locust = master.stats()
    assert locust.num_failures >= step.dropped


def test_extra_users_on_a_worker_do_not_multiply_the_rate(
    master: LocustMaster, server: StallingServer
) -> None:
    step = _run_open(master, server.url, key="users-3", rps=40.0, seconds=4.0, users=3)
    assert step.offered_rps == pytest.approx(40.0, rel=0.25), step


def test_send_lag_is_small_and_the_per_second_batches_add_up_to_the_step(
    master: LocustMaster, server: StallingServer
) -> None:
    started = time.time()
    step = _run_open(master, server.url, key="lag", rps=50.0, seconds=4.0, slo_ms=100.0)
    assert step.scheduled > 120 and step.ok == step.scheduled, step
    # Every sent request has a lag; at 50 req/s a worker leaves on time (the bound leaves room
    # for a busy shared machine, not for a scheduler that sends in bursts of 50 ms or more).
    assert sum(step.send_lag_ms.values()) == step.scheduled - step.dropped
    # A loaded CI machine delays the generator's greenlets by tens of ms (23 ms p99 at load 6 on
    # 2 cores); a lag measured from the wrong origin (the schedule's start, the wall clock)
    # would be seconds. The kit's own threshold (capacity/slo.py) judges the step, not this test.
    assert step.send_lag_p99_ms is not None and step.send_lag_p99_ms < 250, step.send_lag_ms
    # Intended times are wall clock (compared with Prometheus timestamps), not monotonic.
    assert step.first_intended_s is not None and step.last_intended_s is not None
    assert started - 1 < step.first_intended_s < step.last_intended_s < time.time()
    requests, over = step.per_second()
    assert sum(requests) == step.scheduled
    assert len(requests) in (4, 5, 6), step.batches  # 4 s of arrivals, partial seconds at the ends
    assert min(step.batches) == math.floor(step.first_intended_s)
    assert sum(over) == step.over_slo(100.0)
    assert sum(b[2] for b in step.batches.values()) == step.ok
    assert step.slo_ms == 100.0
    # Per request name, the same arrivals and the same requests over the SLO as the step's.
    assert sum(n for n, _over in step.by_name.values()) == step.scheduled
    assert sum(over for _n, over in step.by_name.values()) == step.over_slo(100.0)
    # A healthy step finishes inside its window what it was offered there.
    assert step.achieved_in_window_rps == pytest.approx(step.offered_rps, rel=0.1)


def test_per_second_over_the_slo_counts_each_late_answer_in_its_arrivals_second(
    master: LocustMaster, server: StallingServer
) -> None:
    server.delay_s = 0.15
    late = _run_open(master, server.url, key="late-150", rps=20.0, seconds=3.0, slo_ms=100.0)
    assert late.scheduled > 40 and late.ok == late.scheduled, late
    requests, over = late.per_second()
    assert over == requests, late.batches  # 150 ms against 100 ms: every answer late
    # Against a 1 s SLO the same delay is on time (the bound allows a busy machine's noise).
    in_time = _run_open(master, server.url, key="late-1000", rps=20.0, seconds=3.0,
                        slo_ms=1000.0)  # fmt: skip
    requests, over = in_time.per_second()
    assert sum(requests) == in_time.scheduled > 40
    assert sum(over) <= 0.02 * sum(requests), in_time.batches
    assert sum(over) == in_time.over_slo(1000.0)


def test_completions_after_the_window_are_not_achieved_in_it_and_in_flight_drains_to_0(
    master: LocustMaster, server: StallingServer
) -> None:
    # Every request of the step waits until 3 s after its arrivals stop, then all succeed.
    now = time.time()
    server.stall_from, server.stall_until = now, now + 6.0
    seen: list[int] = []
    step = _run_open(master, server.url, key="queued", rps=20.0, seconds=3.0,
                     at_end=lambda: seen.append(master.in_flight_now()))  # fmt: skip
    assert step.scheduled > 40 and step.ok == step.scheduled and step.in_flight == 0, step
    # At the end of the arrivals the queue was in flight (as of the last report, <= 1 s old)...
    assert seen and seen[0] >= 20, seen
    # ... and it drained: none left, from the one worker.
    state = master.loadgen_state()
    assert (state.in_flight, state.workers) == (0, 1), state
    assert state.reported_at is not None and time.time() - state.reported_at < 5
    # The old rate counts every OK whenever it came; inside the window none came.
    assert step.achieved_rps == pytest.approx(step.offered_rps)
    assert step.first_intended_s is not None and step.last_intended_s is not None
    assert step.completed_in_window(step.first_intended_s, step.last_intended_s) == 0
    assert step.achieved_in_window_rps == 0.0
    assert step.completed_in_window(step.first_intended_s, time.time()) == step.ok
