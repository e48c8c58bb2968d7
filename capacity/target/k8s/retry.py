"""Repeat what a dropped connection (a port-forward tunnel, an ingress) cut off.

Only calls that are safe to repeat go through here: a Prometheus query is evaluated at a fixed
time, so its repeat returns the same answer and nothing measured is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from capacity import interrupts


def retrying[T](
    action: str,
    fn: Callable[[], T],
    *,
    attempts: int = 4,
    delay_s: float = 0.5,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> T:
    """`fn()` again after a dropped connection; the last failure is raised as is."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except retry_on:
            if attempt == attempts:
                raise
            interrupts.sleep(delay_s * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


class RetryingPrometheus:
    """A PromQuery whose queries survive a dropped port-forward (queries are at fixed times)."""

    def __init__(self, inner: Any, attempts: int = 4) -> None:
        self.inner = inner
        self.attempts = attempts
        self.retries = 0

    def custom_query(
        self, query: str, params: dict[str, Any] | None = None, timeout: int | None = None
    ) -> list[dict[str, Any]]:
        calls = 0

        def once() -> list[dict[str, Any]]:
            nonlocal calls
            calls += 1
            if calls > 1:
                self.retries += 1
            result: list[dict[str, Any]] = self.inner.custom_query(query, params=params)
            return result

        return retrying(f"query {query}", once, attempts=self.attempts)
