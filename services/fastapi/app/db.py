"""The async engine and the per-request session dependency."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings

# Every wait on the database is bounded at 1.5 s (pool wait, connect, each statement), so that
# /readyz and data endpoints answer 503 within the contract's 2 s with room for the server's own
# overhead on a loaded node. The statement deadline is client-side: a server that hangs
# (SIGSTOP, a stalled disk) keeps its TCP connection open and answers nothing, which nothing
# else would ever time out. STATEMENT_TIMEOUT_MS is PostgreSQL's own limit: it ends a query
# whose client gave up, instead of letting it run on.
DB_WAIT_S = 1.5
COMMAND_TIMEOUT_S = 1.5
STATEMENT_TIMEOUT_MS = 2000


def make_engine(settings: Settings) -> AsyncEngine:
    # One fixed-size pool per worker process: pool_size from DB_POOL_SIZE and no overflow, so the
    # connections a pod opens are exactly WORKERS x DB_POOL_SIZE (what PostgreSQL is sized for).
    # No pre-ping: it costs a round trip per checkout; /readyz reports a lost database instead.
    # A request that cannot get a connection within 2 s (pool exhausted, server unreachable)
    # fails fast with a 503 instead of queueing behind a dead database.
    engine = create_async_engine(
        settings.async_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_timeout=DB_WAIT_S,
        connect_args={
            "timeout": DB_WAIT_S,
            "command_timeout": COMMAND_TIMEOUT_S,
            "server_settings": {"statement_timeout": str(STATEMENT_TIMEOUT_MS)},
        },
    )
    event.listen(engine.sync_engine, "handle_error", _drop_unanswered)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: the created item is serialised after commit without a reload.
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def _drop_unanswered(context: ExceptionContext) -> None:
    """A statement that missed its deadline: close its connection at once, never reuse it.

    Without this, SQLAlchemy answers the timeout by rolling back (a ROLLBACK to a server that
    answers nothing: another full timeout), and invalidating closes gracefully (one more): a 503
    after 4-6 s instead of 2. asyncpg's terminate() drops the socket; flagged as a disconnect,
    the pool then discards the connection instead of resetting it.
    """
    if not isinstance(context.original_exception, TimeoutError) or context.connection is None:
        return
    with contextlib.suppress(Exception):  # already closed or invalidated: nothing to drop
        driver = context.connection.connection.driver_connection
        if driver is not None:
            driver.terminate()
    context.is_disconnect = True
