"""A psycopg connection that gives up on a database that stops answering.

A PostgreSQL server that hangs (SIGSTOP, a stalled disk, a network partition that drops nothing
but answers nothing) keeps the TCP connection open, so neither the kernel nor libpq ever reports
an error: a query on an already-pooled connection waited forever, and with it the request's
gunicorn thread. The server-side `statement_timeout` cannot help (the server is not running).
psycopg can bound each wait on the socket; Django never asks it to, so this class gives every
command a client-side deadline, COMMAND_TIMEOUT_S, and closes a connection that missed it (its
protocol state is unknown) - the pool then discards it, and the request gets Django's
OperationalError, which the service answers as 503.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors

# /readyz promises an answer within 2 s: 1.5 s leaves room for the server's own overhead on a
# loaded node (the FastAPI service uses the same deadlines).
COMMAND_TIMEOUT_S = 1.5


class DeadlineConnection(psycopg.Connection[Any]):
    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            return super().wait(gen, interval=interval, timeout=timeout or COMMAND_TIMEOUT_S)
        except errors._WaitTimeout:
            self.pgconn.finish()  # mid-protocol: unusable; closed, so the pool drops it
            raise errors.OperationalError(
                f"the database did not answer within {COMMAND_TIMEOUT_S:g} s"
            ) from None
