"""How a run meets Ctrl-C and SIGTERM: raise where the run is, defer during cleanup.

`interrupts_raise` turns SIGINT and SIGTERM into `Interrupted` (a KeyboardInterrupt), so every
`with` block on the way out stops what it started; `signals_deferred` ignores both while cleanup
runs, so a second Ctrl-C cannot leave a process or a cgroup behind.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM; carries the signal for the exit code (128 + signal)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise `Interrupted` in the main thread while the block runs."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in HANDLED}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM while cleanup runs (a no-op outside the main thread)."""
    previous: dict[int, Any] = {}
    with contextlib.suppress(ValueError):  # signal.signal only works in the main thread
        for s in HANDLED:
            previous[s] = signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
