"""The async engine and the per-request session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings
from app.errors import database_unreachable

DB_WAIT_S = 2.0
# Client-side deadline on every statement: a server that hangs (SIGSTOP, a stalled disk) keeps
# its TCP connection open and answers nothing, which nothing else would ever time out. The
# server-side statement_timeout cancels slow queries on a live server at the same limit.
COMMAND_TIMEOUT_S = 2.0


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
        connect_args={
            "timeout": DB_WAIT_S,
            "command_timeout": COMMAND_TIMEOUT_S,
            "server_settings": {"statement_timeout": str(int(COMMAND_TIMEOUT_S * 1000))},
        },
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: the created item is serialised after commit without a reload.
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
        except Exception as exc:
            if database_unreachable(exc) and session.in_transaction():
                await discard_connection(await session.connection())
            raise


async def discard_connection(conn: AsyncConnection) -> None:
    """Drop a connection whose database stopped answering, without another round trip.

    Returning it to the pool would first send a ROLLBACK (and SQLAlchemy's invalidation a
    graceful close), each waiting out its own timeout on a server that answers nothing: a
    503 after 4-6 s instead of 2. asyncpg's terminate() closes the socket at once.
    """
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is not None:
        driver.terminate()
    await conn.invalidate()


SessionDep = Annotated[AsyncSession, Depends(get_session)]
