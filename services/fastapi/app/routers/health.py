"""Liveness (no database) and readiness (a database round trip within 2 s)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import text

from app.config import READ_METHODS
from app.schemas import Status

router = APIRouter()


@router.api_route("/healthz", methods=READ_METHODS)
async def healthz() -> Status:
    return Status(status="ok")


@router.api_route("/readyz", methods=READ_METHODS)
async def readyz(request: Request) -> Status:
    # Each step is bounded (pool wait, connect and command timeouts, all 2 s); a connection
    # that missed its deadline is dropped without a ROLLBACK (app/db.py, _drop_unanswered).
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        raise HTTPException(status_code=503) from exc
    return Status(status="ready")
