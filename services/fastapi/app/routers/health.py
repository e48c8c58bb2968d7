"""Liveness (no database) and readiness (a database round trip within 2 s)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import text

from app.config import READ_METHODS
from app.schemas import Status

router = APIRouter()

READY_TIMEOUT_S = 2.0


@router.api_route("/healthz", methods=READ_METHODS)
async def healthz() -> Status:
    return Status(status="ok")


@router.api_route("/readyz", methods=READ_METHODS)
async def readyz(request: Request) -> Status:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        raise HTTPException(status_code=503) from exc
    return Status(status="ready")
