"""The outbound HTTP client for /api/upstream: one pooled client per worker process.

aiohttp's client by default, chosen on measurements (docs/benchmarks.md, "Outbound HTTP client"):
on one core httpx's AsyncClient spent ~10 ms of CPU per call to the stub (about 100 req/s, p95
over 1 s) against ~1.5 ms for aiohttp's. `UPSTREAM_CLIENT=httpx` keeps the other one selectable,
only so that the comparison can be re-run side by side.
"""

from __future__ import annotations

from typing import Any, Protocol

import aiohttp
import httpx

TIMEOUT_S = 5.0  # the stub's longest contract delay is 2 s; beyond 5 s it is a 502
MAX_CONNECTIONS = 200


class UpstreamFailed(Exception):
    """The stub could not be reached, timed out or answered something unusable (a 502)."""


class UpstreamClient(Protocol):
    async def delay(self, delay_ms: int) -> Any: ...
    async def aclose(self) -> None: ...


class AiohttpUpstream:
    def __init__(self, base_url: str) -> None:
        self._session = aiohttp.ClientSession(
            base_url=base_url,
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
        )

    async def delay(self, delay_ms: int) -> Any:
        try:
            async with self._session.get("/delay", params={"ms": str(delay_ms)}) as response:
                if response.status != 200:
                    raise UpstreamFailed(f"the stub answered {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise UpstreamFailed(str(exc)) from exc

    async def aclose(self) -> None:
        await self._session.close()


class HttpxUpstream:
    def __init__(self, base_url: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=TIMEOUT_S,
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
            ),
        )

    async def delay(self, delay_ms: int) -> Any:
        try:
            response = await self._client.get("/delay", params={"ms": delay_ms})
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamFailed(str(exc)) from exc

    async def aclose(self) -> None:
        await self._client.aclose()


CLIENTS: dict[str, type[AiohttpUpstream] | type[HttpxUpstream]] = {
    "aiohttp": AiohttpUpstream,
    "httpx": HttpxUpstream,
}
