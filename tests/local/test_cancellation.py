"""The cancellation token: a signal only sets a flag, waits raise `Interrupted` at once, cleanup
is never cut short, and `--keep-up`'s wait ends on Ctrl-C without cancelling the run.

Real signals sent to this process (pytest runs tests in the main thread, where handlers run).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import pytest

from capacity import interrupts
from capacity.interrupts import Interrupted, cancellation, signals_deferred, wait_for_signal
from capacity.polling import Pending, poll_until


def _signal_soon(signum: int, after_s: float = 0.2) -> threading.Timer:
    timer = threading.Timer(after_s, os.kill, (os.getpid(), signum))
    timer.start()
    return timer


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_a_long_wait_at_once_with_its_number(signum: int) -> None:
    with cancellation() as token:
        _signal_soon(signum)
        started = time.monotonic()
        with pytest.raises(Interrupted) as caught:
            interrupts.sleep(30)
        assert time.monotonic() - started < 5
        assert caught.value.signum == signum and token.signum == signum


def test_the_handler_never_raises_so_work_between_waits_runs_to_the_checkpoint() -> None:
    with cancellation():
        os.kill(os.getpid(), signal.SIGINT)
        done = sum(range(1000))  # a handler that raised would stop us before this line
        assert done == 499500
        with pytest.raises(Interrupted):
            interrupts.checkpoint()


def test_cleanup_under_signals_deferred_is_not_cut_short_and_the_signal_is_kept() -> None:
    with cancellation() as token:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C during cleanup
            time.sleep(0.05)
            finished_cleanup = True
        assert finished_cleanup and token.cancelled
        with pytest.raises(Interrupted):
            token.check()


def test_handlers_and_plain_sleep_are_restored_after_the_block() -> None:
    before = signal.getsignal(signal.SIGINT)
    with cancellation():
        pass
    assert signal.getsignal(signal.SIGINT) is before
    assert interrupts.current() is None
    started = time.monotonic()
    interrupts.sleep(0.05)  # no token: a plain sleep
    assert time.monotonic() - started >= 0.04


def _signal_once_handler_changes(signum: int) -> threading.Thread:
    """Send `signum` to this process once the main thread has installed a new handler for it.

    A timer at a fixed delay raced the main thread: on a busy machine it could fire before
    `wait_for_signal` installed its handler, cancelling the enclosing run instead (and then
    leaving `wait_for_signal` waiting for a signal that had already come).
    """
    before = signal.getsignal(signum)

    def send() -> None:
        # Without a new handler in 60 s, signal anyway: the test then fails instead of hanging.
        with contextlib.suppress(TimeoutError):
            poll_until(
                lambda: True if signal.getsignal(signum) is not before else Pending("same"),
                timeout_s=60, interval_s=0.01, on_timeout=TimeoutError, sleep=time.sleep,
            )  # fmt: skip
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_keep_up_wait_ends_on_ctrl_c_without_cancelling_the_run() -> None:
    with cancellation() as run_token:
        _signal_once_handler_changes(signal.SIGINT)
        assert wait_for_signal() == signal.SIGINT
        assert not run_token.cancelled, "the run goes on to write its report"
        run_token.check()
