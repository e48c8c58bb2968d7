"""Reads the service's environment variables (the launcher table in services/CONTRACT.md).

Pure functions over a mapping, shared by the launcher and the Django settings, so a bad value
fails the same way in both: a `ConfigError` naming the variable, the value and what is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from fwcap_django.db import DeadlineConnection

# The contract's request body limit (413 above it): Django's DATA_UPLOAD_MAX_MEMORY_SIZE.
MAX_BODY_BYTES = 65536


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot run with."""


def positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ConfigError(f"{name}={raw!r} is not a positive whole number (e.g. {default})")
    return int(raw)


def flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw not in ("0", "1"):
        raise ConfigError(f"{name}={raw!r} is not accepted: use 1 (on) or 0 (off)")
    return raw == "1"


# idiomatic: DRF views under gunicorn; lean: plain Django views; async: async Django views under
# uvicorn (ASGI), items/views_async.py.
VARIANTS = ("idiomatic", "lean", "async")
# Layers of ours that FWCAP_BENCH_WITHOUT=name,name switches off, for pricing each one
# (scripts/bench_layers.py); production never sets it. The metrics middleware
# is METRICS_ENABLED=0, the buffering worker GUNICORN_WORKER_CLASS=gthread-stock.
BENCH_LAYERS = {
    "framing": "the response-framing middleware (Content-Length, HEAD bodies)",
    "exactpath": "the exact-path middleware",
    "bodylimit": "the WSGI wrapper bounding chunked bodies (fwcap_django.body_limit)",
    "commanddeadline": "the psycopg connection class with a 1.5 s deadline per command",
}


def bench_without(env: Mapping[str, str]) -> frozenset[str]:
    raw = env.get("FWCAP_BENCH_WITHOUT", "")
    names = frozenset(name.strip() for name in raw.split(",") if name.strip())
    unknown = sorted(names - BENCH_LAYERS.keys())
    if unknown:
        raise ConfigError(
            f"FWCAP_BENCH_WITHOUT={raw!r}: unknown layer {', '.join(unknown)}; expected names "
            f"among {', '.join(BENCH_LAYERS)}"
        )
    return names


def variant(env: Mapping[str, str]) -> str:
    raw = env.get("SERVICE_VARIANT", "").strip() or "idiomatic"
    if raw not in VARIANTS:
        raise ConfigError(
            f"SERVICE_VARIANT={raw!r} is not accepted: use one of {', '.join(VARIANTS)}"
        )
    return raw


def threads(env: Mapping[str, str]) -> int:
    # 16: the sweep of docs/benchmarks.md ("gthread thread count"), see services/django/README.md.
    return positive_int(env, "THREADS", 16)


def db_pool_size(env: Mapping[str, str]) -> int:
    # One connection per request thread: no thread ever waits for the pool.
    return positive_int(env, "DB_POOL_SIZE", threads(env))


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def database_settings(url: str, *, pool_size: int) -> dict[str, Any]:
    """Django's DATABASES["default"] for `postgresql://user:pass@host:port/db?opt=value`."""
    if not url:
        raise ConfigError(
            "DATABASE_URL is not set: give postgresql://user:password@host:port/database"
        )
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"DATABASE_URL={_redacted(url)!r} has an invalid port") from None
    name = unquote(parts.path.removeprefix("/"))
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not name:
        raise ConfigError(
            f"DATABASE_URL={_redacted(url)!r} is not accepted: "
            "give postgresql://user:password@host:port/database"
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname,
        "PORT": str(port or ""),
        # Django's native psycopg pool rather than CONN_MAX_AGE persistent connections: both
        # keep connections open across requests, but the pool is shared by a worker's threads,
        # bounded (max_size), discards broken connections on return and reconnects in the
        # background after a database restart - so a DB blip costs failed requests, not a
        # worker restart. The pool requires CONN_MAX_AGE = 0.
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            **dict(parse_qsl(parts.query)),
            "connect_timeout": 2,  # libpq's minimum; a request waits at most the pool timeout
            # A query that runs for more than 2 s is cancelled by the server itself (the same
            # limit as the FastAPI service), also one whose client gave up; a server that does
            # not answer at all is bounded client-side (1.5 s) by fwcap_django.db.
            "options": "-c statement_timeout=2000",
            # Django turns server-side prepared statements off for the sake of PgBouncer in
            # transaction mode; we talk to PostgreSQL directly, so psycopg's default (prepare a
            # query after 5 runs) is back on, as asyncpg does for the FastAPI service.
            "prepare_threshold": 5,
            "pool": {
                "min_size": 1,
                "max_size": pool_size,
                # A thread waits at most 1.5 s for a connection; when the database is down that
                # turns into a 503 within the 2 s /readyz promises.
                "timeout": 1.5,
                "connection_class": DeadlineConnection,
                # After a failed connection attempt psycopg_pool retries with a doubling delay
                # (1, 2, 4, ... s): after a 40-75 s outage a worker kept answering 503 for up to
                # 28 s once the database was back. Giving up after 3 s ends that backoff; the
                # next request that finds the pool empty starts a fresh attempt at once.
                "reconnect_timeout": 3.0,
            },
        },
    }
