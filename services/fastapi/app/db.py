"""The async engine and the per-request session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings

DB_WAIT_S = 2.0


def make_engine(settings: Settings) -> AsyncEngine:
    # One fixed-size pool per worker process: pool_size from DB_POOL_SIZE and no overflow, so the
    # connections a pod opens are exactly WORKERS x DB_POOL_SIZE (what PostgreSQL is sized for).
    # No pre-ping: it costs a round trip per checkout; /readyz reports a lost database instead.
    # A request that cannot get a connection within 2 s (pool exhausted, server unreachable)
    # fails fast with a 503 instead of queueing behind a dead database.
    return create_async_engine(
        settings.async_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_timeout=DB_WAIT_S,
        connect_args={"timeout": DB_WAIT_S},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: the created item is serialised after commit without a reload.
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
