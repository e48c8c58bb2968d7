"""poll_until: the value it waits for, a timeout error that says how far it got, and Ctrl-C.

The cancellation tests send real signals to this process, like test_cancellation.py.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from capacity import polling
from capacity.errors import TargetError
from capacity.interrupts import Interrupted, cancellation
from capacity.polling import Pending, poll_until


def _answers(*values: object) -> Iterator[object]:
    yield from values
    raise AssertionError("polled after the answer")


def test_the_first_value_that_is_not_pending_is_returned() -> None:
    answers = _answers(Pending("starting"), Pending("1 of 2 up"), ["a", "b"])
    slept: list[float] = []
    found = poll_until(
        lambda: next(answers),
        timeout_s=60,
        interval_s=0.25,
        on_timeout=TargetError,
        sleep=slept.append,
    )
    assert found == ["a", "b"]
    assert slept == [0.25, 0.25]


def test_a_falsy_value_is_an_answer_too() -> None:
    assert poll_until(lambda: 0, timeout_s=1, interval_s=1, on_timeout=TargetError) == 0


@dataclass
class FakeClock:
    """poll_until's clock, advanced only by its sleeps: a deadline of 0.05 s on the real clock
    could pass during the first check on a busy machine (one call, no sleep at all)."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(polling, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


def test_the_timeout_error_quotes_the_last_reason(clock: FakeClock) -> None:
    seen = iter(range(1000))

    def check() -> Pending:
        return Pending(f"{next(seen)} of 4 workers connected")

    with pytest.raises(TargetError) as e:
        poll_until(
            check,
            timeout_s=0.05,
            interval_s=0.02,
            on_timeout=lambda last: TargetError(f"Locust master not ready in 0.05s: {last}"),
            sleep=clock.sleep,
        )
    calls = next(seen)
    # Checks at 0, 0.02, 0.04 and at the deadline (after a shortened last sleep).
    assert calls == 4 and clock.slept == pytest.approx([0.02, 0.02, 0.01])
    assert str(e.value) == "Locust master not ready in 0.05s: 3 of 4 workers connected"


def test_a_zero_timeout_looks_once_and_never_sleeps() -> None:
    def never(_s: float) -> None:
        raise AssertionError("slept")

    with pytest.raises(TargetError, match="down"):
        poll_until(
            lambda: Pending("down"), timeout_s=0, interval_s=1, on_timeout=TargetError, sleep=never
        )
    assert poll_until(lambda: "up", timeout_s=0, interval_s=1, on_timeout=TargetError) == "up"


def test_no_sleep_runs_past_the_deadline(clock: FakeClock) -> None:
    with pytest.raises(TargetError):
        poll_until(
            lambda: Pending("no"),
            timeout_s=0.3,
            interval_s=10,
            on_timeout=TargetError,
            sleep=clock.sleep,
        )
    assert clock.slept == [pytest.approx(0.3)]


def test_a_check_slower_than_the_deadline_gives_up_without_sleeping(clock: FakeClock) -> None:
    def slow() -> Pending:
        clock.now += 0.5  # the check itself outlasts the 0.3 s deadline
        return Pending("no")

    with pytest.raises(TargetError):
        poll_until(slow, timeout_s=0.3, interval_s=10, on_timeout=TargetError, sleep=clock.sleep)
    assert clock.slept == []


def test_a_check_that_raises_gives_up_at_once() -> None:
    def died() -> Pending:
        raise TargetError("postgres exited with 1")

    with pytest.raises(TargetError, match="exited"):
        poll_until(died, timeout_s=60, interval_s=0.1, on_timeout=TargetError)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_ends_a_long_poll_at_its_next_sleep(signum: int) -> None:
    calls = 0

    def check() -> Pending:
        nonlocal calls
        calls += 1
        return Pending("not yet")

    with cancellation():
        threading.Timer(0.2, os.kill, (os.getpid(), signum)).start()
        started = time.monotonic()
        with pytest.raises(Interrupted) as caught:
            poll_until(check, timeout_s=60, interval_s=30, on_timeout=TargetError)
        assert time.monotonic() - started < 5
    assert caught.value.signum == signum
    assert calls == 1, "the signal ended the sleep; the check did not run again"


def test_cleanup_with_a_plain_sleep_runs_to_its_end_after_ctrl_c() -> None:
    answers = _answers(Pending("2 tasks left"), Pending("1 task left"), "empty")
    with cancellation() as token:
        token.cancel(signal.SIGINT)
        found = poll_until(
            lambda: next(answers),
            timeout_s=60,  # only a bound: it returns at the third answer
            interval_s=0.01,
            on_timeout=TargetError,
            sleep=time.sleep,
        )
    assert found == "empty"
