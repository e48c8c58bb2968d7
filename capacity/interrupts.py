"""How a run meets Ctrl-C and SIGTERM: a signal sets a flag, every wait checks it.

A handler that raises is unsafe: when the signal lands while the interpreter runs a hook that
swallows exceptions (logging's at-fork hook while a pod forks, a `__del__`, a weakref
callback), Python prints "Exception ignored" and the Ctrl-C is lost. So the handlers installed
by `cancellation()` only record the signal in a `CancelToken` and wake any waiter through a
pipe (no Python lock is taken in a handler, so it cannot deadlock against the code it
interrupts). The run raises `Interrupted` at safe points: every wait goes through `sleep()`
(start-up polls, load steps, Prometheus and Locust polls) and `checkpoint()` marks the others.
`signals_deferred` ignores both signals while cleanup runs, so a second Ctrl-C cannot leave a
process or a cgroup behind.

Outside `cancellation()` (library use, tests), `sleep()` is a plain `time.sleep` and Python's
default Ctrl-C behaviour applies.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM; carries the signal for the exit code (128 + signal)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class CancelToken:
    """A one-way flag set by a signal (or `cancel()`); waits on it wake at once when it is set.

    Safe to set from a signal handler and to wait on from any thread: setting it is an
    attribute store plus a non-blocking write to a pipe, waiting is `select` on that pipe.
    """

    def __init__(self) -> None:
        self._signum: int | None = None
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)

    @property
    def signum(self) -> int | None:
        """The first signal that cancelled the run, or None."""
        return self._signum

    @property
    def cancelled(self) -> bool:
        return self._signum is not None

    def cancel(self, signum: int = signal.SIGINT) -> None:
        """Mark the run cancelled (the first signal wins) and wake every waiter."""
        if self._signum is not None:
            return
        self._signum = signum
        with contextlib.suppress(OSError):  # a full pipe already wakes everyone
            os.write(self._write_fd, b"x")

    def check(self) -> None:
        """Raise `Interrupted` if the run was cancelled: call it where stopping is safe."""
        if self._signum is not None:
            raise Interrupted(self._signum)

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`; raise `Interrupted` as soon as the run is cancelled."""
        self.check()
        if seconds > 0:
            # The pipe is never drained: once readable, every later wait returns at once.
            with contextlib.suppress(InterruptedError):
                select.select([self._read_fd], [], [], seconds)
        self.check()

    def close(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


_current: CancelToken | None = None
_current_lock = threading.Lock()


def current() -> CancelToken | None:
    """The token of the `cancellation()` block that is running, if any."""
    return _current


def sleep(seconds: float) -> None:
    """`time.sleep` for the run's waits: ends early with `Interrupted` on Ctrl-C / SIGTERM."""
    token = _current
    if token is None:
        time.sleep(max(0.0, seconds))
    else:
        token.wait(seconds)


def checkpoint() -> None:
    """Raise `Interrupted` here if a signal arrived since the last wait."""
    token = _current
    if token is not None:
        token.check()


class SystemClock:
    """Time as the run sees it; its `sleep` is cancellable (it satisfies `capacity.run.Clock`)."""

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)
    sleep = staticmethod(sleep)


CLOCK = SystemClock()


@contextlib.contextmanager
def cancellation() -> Iterator[CancelToken]:
    """SIGINT and SIGTERM cancel the block's token; waits inside raise `Interrupted`.

    Must be entered in the main thread (only it can install signal handlers).
    """
    global _current
    token = CancelToken()

    def handler(signum: int, _frame: FrameType | None) -> None:
        token.cancel(signum)  # never raises: see the module docstring

    with _current_lock:
        previous_token = _current
        _current = token
    previous = {s: signal.signal(s, handler) for s in HANDLED}
    try:
        yield token
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        with _current_lock:
            _current = previous_token
        token.close()


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """No signal interrupts the block: cleanup must run to its end.

    Inside `cancellation()` the handlers only set the token, which cleanup never checks, so a
    second Ctrl-C is simply remembered (and a first one is acted on at the next checkpoint).
    Elsewhere SIGINT and SIGTERM are ignored while the block runs (a no-op outside the main
    thread).
    """
    if _current is not None:
        yield
        return
    previous: dict[int, Any] = {}
    with contextlib.suppress(ValueError):  # signal.signal only works in the main thread
        for s in HANDLED:
            previous[s] = signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def wait_for_signal() -> int:
    """Block until SIGINT or SIGTERM and return it: here a signal means "I am done looking",
    not "abort" (`capacity report --keep-up`), so the enclosing run is not cancelled by it."""
    with cancellation() as token:
        while token.signum is None:
            with contextlib.suppress(Interrupted):
                token.wait(3600.0)
        return token.signum
