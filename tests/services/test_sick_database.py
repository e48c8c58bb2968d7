"""A database that hangs gives 503s within the contract's limits, never a hung request.

PostgreSQL is SIGSTOPped (every process of the server: it keeps its sockets open and answers
nothing, which no TCP timeout notices) while each live service holds pooled connections to it.
Before the fix, Django's /readyz and data endpoints waited with no limit and FastAPI's pooled
connections hung for 20 s or more. Then the server is resumed, and both must serve 200 again
within 5 s.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import psutil
import pytest

from tests.services.live_support import error

pytestmark = pytest.mark.live

READY_LIMIT_S = 2.5
DATA_LIMIT_S = 3.0
RECOVERY_LIMIT_S = 5.0
# Concurrent requests per round: what both services serve at once without queueing for a
# thread (Django runs 2 workers x 4 threads here); more would measure gthread's queue, not the
# database timeouts.
ROUND = (("GET", "/readyz"), ("GET", "/readyz"), ("GET", "/api/items/1"), ("GET", "/api/stats"))


@contextmanager
def postgres_stopped(postgres: Any) -> Iterator[None]:
    """SIGSTOP the postmaster, then every backend (each runs in its own session: a signal to
    the postmaster's process group would leave pooled connections answering)."""
    postmaster = psutil.Process(postgres.process.pid)
    postmaster.suspend()  # first, so it forks no new backend meanwhile
    backends = postmaster.children(recursive=True)
    for backend in backends:
        backend.suspend()
    try:
        yield
    finally:
        for backend in backends:
            with contextlib.suppress(psutil.NoSuchProcess):
                backend.resume()
        postmaster.resume()


def _timed(service: Any, method: str, path: str) -> tuple[str, int, float, Any]:
    start = time.perf_counter()
    answer = httpx.request(method, service.url(path), headers={"Connection": "close"}, timeout=30)
    elapsed_s = time.perf_counter() - start
    body = (
        answer.json()
        if answer.headers.get("content-type", "").startswith("application/json")
        else None
    )
    return path, answer.status_code, elapsed_s, body


def _round(service: Any) -> list[tuple[str, int, float, Any]]:
    with ThreadPoolExecutor(max_workers=len(ROUND)) as pool:
        return list(pool.map(lambda call: _timed(service, *call), ROUND))


def test_a_hung_database_gives_503_in_time_and_recovery_is_quick(
    service: Any, live_services: Any
) -> None:
    for _ in range(3):  # every worker holds pooled connections that worked a moment ago
        assert all(status == 200 for _, status, _, _ in _round(service))
    with postgres_stopped(live_services.postgres):
        # First round: the pooled connections (a command deadline); second round: those were
        # dropped, so new connections are attempted (connect and pool-wait deadlines).
        for attempt in ("pooled", "new"):
            for path, status, elapsed_s, body in _round(service):
                limit_s = READY_LIMIT_S if path == "/readyz" else DATA_LIMIT_S
                where = f"{service.framework} {path} ({attempt} connections)"
                assert (status, body) == (503, error(503)), where
                assert elapsed_s <= limit_s, f"{where}: {elapsed_s:.2f}s"
        stopped_at = time.monotonic()
    resumed_at = time.monotonic()
    assert resumed_at - stopped_at < 1.0
    while True:
        results = _round(service)
        if all(status == 200 for _, status, _, _ in results):
            break
        waited_s = time.monotonic() - resumed_at
        assert waited_s < RECOVERY_LIMIT_S, f"still {results} {waited_s:.1f}s after SIGCONT"
        time.sleep(0.2)
