"""The outbound-I/O and CPU-bound workloads."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from app.config import READ_METHODS
from app.schemas import CpuOut, QueryInt, UpstreamOut
from app.upstream import UpstreamClient, UpstreamFailed

router = APIRouter(prefix="/api", tags=["work"])


def get_upstream(request: Request) -> UpstreamClient:
    return request.app.state.upstream  # type: ignore[no-any-return]


UpstreamDep = Annotated[UpstreamClient, Depends(get_upstream)]


@router.api_route("/upstream", methods=READ_METHODS)
async def upstream(
    client: UpstreamDep, delay_ms: Annotated[QueryInt, Query(ge=0, le=2000)] = 0
) -> UpstreamOut:
    try:
        return UpstreamOut(upstream=await client.delay(delay_ms))
    except UpstreamFailed as exc:
        raise HTTPException(status_code=502) from exc


# A plain `def`, as FastAPI's docs advise for blocking work: FastAPI runs it in its threadpool,
# so while one request hashes, the event loop still accepts connections and answers /healthz
# (a kubelet probe must not time out under CPU load). The hashing holds the GIL either way, so
# an `async def` would not be faster; it would only stall every other request on the worker.
@router.api_route("/cpu", methods=READ_METHODS)
def cpu(n: Annotated[QueryInt, Query(ge=1, le=100_000)] = 1000) -> CpuOut:
    digest = hashlib.sha256(b"fwcap").digest()
    for _ in range(n):
        digest = hashlib.sha256(digest).digest()
    return CpuOut(n=n, result=digest.hex())
