"""Waiting for a condition: the one deadline loop behind every start-up and readiness poll.

`poll_until(check, ...)` calls `check` until it returns a value other than `Pending`, and
returns that value. Between calls it sleeps through `interrupts.sleep`, so Ctrl-C or SIGTERM
raises `Interrupted` there, at a safe point, like every other wait of the run. A `check` raises
to give up early (a process died); a `Pending` carries why it is not there yet, and the last
one goes into the caller's timeout error, so that error says what was awaited, for how long,
and how far it got.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from capacity import interrupts


@dataclass(frozen=True)
class Pending:
    """Not yet, and why (e.g. "2 of 4 workers connected"); the timeout error quotes it."""

    reason: str


def poll_until[T](
    check: Callable[[], T | Pending],
    *,
    timeout_s: float,
    interval_s: float,
    on_timeout: Callable[[str], BaseException],
    sleep: Callable[[float], None] = interrupts.sleep,
) -> T:
    """`check()`'s first value that is not `Pending`; raises `on_timeout(last reason)` after
    `timeout_s`.

    `check` runs at least once (`timeout_s=0` is a single look) and once more after the last
    sleep, so the timeout error describes the state at the deadline. `sleep` is the run's
    cancellable sleep; only cleanup, which must run to its end after a Ctrl-C, passes
    `time.sleep`.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if not isinstance(result, Pending):
            return result
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise on_timeout(result.reason)
        sleep(min(interval_s, remaining_s))
