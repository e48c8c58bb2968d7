"""The pooled HTTP clients for the upstream stub: one per worker process.

`delay` (gunicorn's threads): urllib3, built at import, which happens in each gunicorn worker
after the fork (the app is not preloaded), so no connection is ever shared across processes. One
pooled connection per request thread: a thread never waits for another's connection.

`adelay` (the async variant under uvicorn): aiohttp, the client the FastAPI service chose on
measurements (docs/benchmarks.md, "Outbound HTTP client"), with the same connection limit. Its
session belongs to the worker's event loop, so it is made on the first call, inside that loop.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import urllib3
from django.conf import settings

from fwcap_django.errors import UpstreamFailed

TIMEOUT_S = 5.0
ASYNC_MAX_CONNECTIONS = 200  # services/fastapi/app/upstream.py's MAX_CONNECTIONS

_http = urllib3.PoolManager(
    maxsize=settings.THREADS,
    timeout=urllib3.Timeout(total=TIMEOUT_S),
    retries=False,  # an upstream failure is reported (502), never hidden by a retry
)


def delay(delay_ms: int) -> Any:
    """The stub's answer to `GET /delay?ms=<delay_ms>`; UpstreamFailed (502) otherwise."""
    try:
        response = _http.request(
            "GET", f"{settings.UPSTREAM_URL}/delay", fields={"ms": str(delay_ms)}
        )
    except urllib3.exceptions.HTTPError as exc:
        raise UpstreamFailed from exc
    return _answer(response.status, response.data)


_session: aiohttp.ClientSession | None = None


async def adelay(delay_ms: int) -> Any:
    """`delay` for async views."""
    global _session
    if _session is None:
        _session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            connector=aiohttp.TCPConnector(limit=ASYNC_MAX_CONNECTIONS),
        )
    try:
        async with _session.get(
            f"{settings.UPSTREAM_URL}/delay", params={"ms": str(delay_ms)}
        ) as response:
            return _answer(response.status, await response.read())
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UpstreamFailed from exc


def _answer(status: int, body: bytes) -> Any:
    if status != 200:
        raise UpstreamFailed
    try:
        return json.loads(body)
    except ValueError as exc:
        raise UpstreamFailed from exc
