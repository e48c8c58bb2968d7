"""ClientStep's per-second batches, send lag and in-window completions, and /fwcap/state, read
from payloads as the locustfile writes them (pure: no Locust)."""

from __future__ import annotations

import httpx
import pytest

from capacity.errors import TargetError
from capacity.load.client_stats import ClientStep, parse_client_step
from capacity.load.driver import LocustMaster, parse_loadgen_state
from capacity.load.ladder import StepCounts


def _step(key: str = "k", **extra: object) -> ClientStep:
    payload: dict[str, object] = {
        "scheduled": 30, "ok": 27, "failed": 1, "dropped": 2, "in_flight": 0,
        "first_intended_s": 100.2, "last_intended_s": 102.7,
        "latency_ms": {"5": 20, "150": 7},
        "send_lag_ms": {"1": 25, "3": 2},
        "slo_ms": 100.0,
        # Arrivals by intended second; completions of 102's late ones fall in 103.
        "batches": {"100": [10, 8, 7], "101": [10, 6, 8], "102": [10, 6, 5], "103": [0, 0, 7]},
    }  # fmt: skip
    payload.update(extra)
    return parse_client_step(key, payload)


def test_batches_are_read_with_integer_seconds_and_give_requests_and_over_per_second() -> None:
    step = _step()
    assert step.batches == {100: (10, 8, 7), 101: (10, 6, 8), 102: (10, 6, 5), 103: (0, 0, 7)}
    assert step.slo_ms == 100.0
    # Only seconds with arrivals; the 103 of late completions is no request of the fit.
    assert step.per_second() == ((10, 10, 10), (2, 4, 4))
    requests, over = step.per_second()
    assert sum(requests) == step.scheduled
    # Failed and dropped ones are over too: the per-second total is the step's over_slo.
    assert sum(over) == step.over_slo(100.0) == 10


def test_batches_come_out_in_time_order_whatever_the_payloads_order() -> None:
    step = _step(batches={"12": [3, 3, 3], "9": [1, 0, 0], "10": [2, 1, 1]})
    assert step.per_second() == ((1, 2, 3), (1, 1, 0))


def test_send_lag_p99_is_read_from_its_histogram_and_none_when_nothing_was_sent() -> None:
    step = _step(send_lag_ms={"1": 98, "4": 1, "40": 1})
    assert step.send_lag_ms == {1: 98, 4: 1, 40: 1}
    assert step.send_lag_p99_ms == 4.0
    assert _step(send_lag_ms={}).send_lag_p99_ms is None
    assert parse_client_step("old", {"scheduled": 3}).send_lag_p99_ms is None


def test_completed_in_window_counts_completions_by_their_second() -> None:
    step = _step()
    assert step.completed_in_window(100.2, 102.99) == 7 + 8 + 5
    assert step.completed_in_window(100.9, 101.0) == 7 + 8  # whole seconds, both ends in
    assert step.completed_in_window(103.0, 200.0) == 7
    assert step.completed_in_window(90.0, 99.9) == 0


def test_achieved_in_window_leaves_out_a_queue_worked_off_after_the_window() -> None:
    # 30 arrivals in [10.0, 12.9]: a window of 3 s. Every answer came at 14 (a stall), so the
    # old achieved rate shows all 30 "achieved"; inside the window nothing was.
    late = _step(
        scheduled=30, ok=30, failed=0, dropped=0, first_intended_s=10.0, last_intended_s=12.9,
        latency_ms={"1500": 30}, batches={"10": [10, 0, 0], "11": [10, 0, 0], "12": [10, 0, 0],
                                          "14": [0, 0, 30]},
    )  # fmt: skip
    assert late.window_s == pytest.approx(3.0)
    assert late.achieved_rps == pytest.approx(10.0)
    assert late.achieved_in_window_rps == 0.0
    # Healthy: each second's completions in that second. The window ends at 13.0 exactly, so the
    # second 13 (nothing in it) is no part of it.
    healthy = _step(
        scheduled=30, ok=30, failed=0, dropped=0, first_intended_s=10.0, last_intended_s=12.9,
        batches={"10": [10, 10, 10], "11": [10, 10, 10], "12": [10, 10, 9], "13": [0, 0, 1]},
    )  # fmt: skip
    assert healthy.achieved_in_window_rps == pytest.approx(29 / 3.0)
    # A window ending mid-second counts that second's completions pro rata, so a healthy step
    # never shows more achieved than offered: 10.5 .. 13.5, half of second 13's 10.
    mid = _step(
        scheduled=30, ok=30, failed=0, dropped=0, first_intended_s=10.5, last_intended_s=13.4,
        batches={"10": [5, 5, 5], "11": [10, 10, 10], "12": [10, 10, 10], "13": [5, 5, 5]},
    )  # fmt: skip
    # Second 13 holds 5 arrivals and their 5 completions, all in its first half.
    assert mid.completed_in_window(10.5, 13.5) == 30
    assert mid.achieved_in_window_rps == pytest.approx((5 + 10 + 10 + 2.5) / 3.0)
    assert mid.achieved_in_window_rps <= mid.offered_rps


def test_pooled_steps_keep_every_second_and_their_own_windows() -> None:
    a = _step("a")
    b = _step(
        "b", ok=30, failed=0, dropped=0, latency_ms={"5": 30},
        first_intended_s=200.0, last_intended_s=202.9, slo_ms=100.0,
        batches={"200": [10, 10, 10], "201": [10, 10, 10], "202": [10, 10, 10]},
        send_lag_ms={"1": 30},
    )  # fmt: skip
    pooled = a + b
    assert set(pooled.batches) == {100, 101, 102, 103, 200, 201, 202}
    assert pooled.per_second() == ((10,) * 6, (2, 4, 4, 0, 0, 0))
    assert pooled.send_lag_ms == {1: 55, 3: 2}
    assert pooled.slo_ms == 100.0
    # Each window's in-window completions over the pooled time, not the 100..203 span (whose
    # gap holds a's late completions at 103).
    assert pooled.achieved_in_window_rps == pytest.approx(
        (a.achieved_in_window_rps * a.window_s + b.achieved_in_window_rps * b.window_s)
        / (a.window_s + b.window_s)
    )
    assert pooled.counts(100.0) == StepCounts(60, 10)
    # Windows judged against different SLOs cannot be pooled per second silently.
    assert (a + _step("c", slo_ms=200.0)).slo_ms is None
    # Overlapping seconds (a key switched mid-second) add up.
    assert (a + a).batches[100] == (20, 16, 14)


def test_a_bad_batch_or_send_lag_is_refused_naming_it() -> None:
    with pytest.raises(TargetError, match=r"step 'k': batches\.100\.2: Field required"):
        _step(batches={"100": [1, 2]})
    with pytest.raises(TargetError, match=r"step 'k': batches\.100\.2: .*greater than or equal"):
        _step(batches={"100": [1, 0, -1]})
    with pytest.raises(TargetError, match=r"step 'k': batches\.soon\.\[key\]: .*integer"):
        _step(batches={"soon": [1, 0, 0]})
    with pytest.raises(TargetError, match=r"step 'k': .*batches\.7: on_time 3 exceeds sched"):
        _step(batches={"7": [2, 3, 0]})
    with pytest.raises(TargetError, match=r"step 'k': send_lag_ms\.4: .*'x'"):
        _step(send_lag_ms={"4": "x"})
    with pytest.raises(TargetError, match=r"step 'k': slo_ms: .*'fast'"):
        _step(slo_ms="fast")


def test_the_loadgen_state_payload_is_validated() -> None:
    state = parse_loadgen_state({"in_flight": 3, "workers": 2, "reported_at": 1700000000.5})
    assert (state.in_flight, state.workers, state.reported_at) == (3, 2, 1700000000.5)
    assert parse_loadgen_state({"in_flight": 0, "workers": 0, "reported_at": None}).workers == 0
    with pytest.raises(TargetError, match=r"/fwcap/state: in_flight: .*greater than or equal"):
        parse_loadgen_state({"in_flight": -1, "workers": 1, "reported_at": 1.0})
    with pytest.raises(TargetError, match=r"/fwcap/state: workers: Field required"):
        parse_loadgen_state({"in_flight": 1, "reported_at": 1.0})
    with pytest.raises(TargetError, match=r"/fwcap/state: payload: .*dictionary"):
        parse_loadgen_state([1, 2])


def _master(handler: httpx.MockTransport) -> LocustMaster:
    return LocustMaster("http://master.test", client=httpx.Client(transport=handler))


def test_in_flight_now_reads_the_masters_state_and_refuses_a_bad_or_missing_answer() -> None:
    ok = _master(httpx.MockTransport(lambda r: httpx.Response(
        200, json={"in_flight": 7, "workers": 2, "reported_at": 5.0})))  # fmt: skip
    assert ok.in_flight_now() == 7
    not_found = _master(httpx.MockTransport(lambda r: httpx.Response(404, text="no route")))
    with pytest.raises(TargetError, match=r"did not answer /fwcap/state: .*404"):
        not_found.in_flight_now()
    garbled = _master(httpx.MockTransport(lambda r: httpx.Response(200, text="<html>")))
    with pytest.raises(TargetError, match=r"did not answer /fwcap/state"):
        garbled.in_flight_now()
    bad = _master(httpx.MockTransport(lambda r: httpx.Response(
        200, json={"in_flight": "lots", "workers": 1, "reported_at": 5.0})))  # fmt: skip
    with pytest.raises(TargetError, match=r"/fwcap/state: in_flight: .*'lots'"):
        bad.in_flight_now()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TargetError, match=r"did not answer /fwcap/state: connection refused"):
        _master(httpx.MockTransport(refuse)).in_flight_now()


def test_requests_over_the_slo_are_read_per_request_name_and_add_up_when_pooled() -> None:
    step = _step(by_name={"/api/items/[id]": [20, 3], "/api/upstream": [10, 7]})
    assert step.by_name == {"/api/items/[id]": (20, 3), "/api/upstream": (10, 7)}
    pooled = step + _step(by_name={"/api/upstream": [5, 1], "/api/stats": [1, 1]})
    assert pooled.by_name == {
        "/api/items/[id]": (20, 3), "/api/upstream": (15, 8), "/api/stats": (1, 1)
    }  # fmt: skip
    assert _step().by_name == {}  # an older locustfile's payload has none
    with pytest.raises(TargetError, match="by_name"):
        _step(by_name={"/api/stats": [1, -1]})
