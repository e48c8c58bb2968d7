"""The lean variant (SERVICE_VARIANT=lean): the same FastAPI app on raw asyncpg, no ORM.

Same routes, validation (pydantic), errors, middleware and metrics as the idiomatic service;
only the database layer differs: hand-written SQL on an asyncpg pool (its prepared-statement
cache on), rows turned into the contract's JSON directly instead of ORM objects and response
models. Its job is to show, next to the idiomatic service, how much of FastAPI's cost per
request is the framework and how much the SQLAlchemy ORM/pydantic layer (TechEmpower's FastAPI
entry is written this way).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from app.config import READ_METHODS, Settings
from app.db import COMMAND_TIMEOUT_S, DB_WAIT_S, STATEMENT_TIMEOUT_MS
from app.routers.items import check_item_body, is_storable, item_pk, read_item_body
from app.schemas import CENT, QueryInt

router = APIRouter()

_ITEM_COLUMNS = (
    "SELECT i.id, i.name, c.slug, i.price FROM items i JOIN categories c ON c.id = i.category_id"
)
GET_ITEM = f"{_ITEM_COLUMNS} WHERE i.id = $1"
LIST_ITEMS = f"{_ITEM_COLUMNS} ORDER BY i.id LIMIT $1 OFFSET $2"
LIST_ITEMS_IN_CATEGORY = f"{_ITEM_COLUMNS} WHERE c.slug = $3 ORDER BY i.id LIMIT $1 OFFSET $2"
CATEGORY_ID = "SELECT id FROM categories WHERE slug = $1"
INSERT_ITEM = "INSERT INTO items (name, price, category_id) VALUES ($1, $2, $3) RETURNING id"
# The idiomatic service's query (app/routers/stats.py), as SQL: orders counted per item first.
STATS = """
SELECT c.slug, count(i.id), min(i.price), avg(i.price), max(i.price), coalesce(sum(o.n), 0)
FROM categories c
LEFT JOIN items i ON i.category_id = c.id
LEFT JOIN (SELECT item_id, count(*) AS n FROM orders GROUP BY item_id) o ON o.item_id = i.id
GROUP BY c.id ORDER BY c.slug
"""

# asyncpg errors that mean "no usable database", answered 503 (app/errors.py adds the rest).
UNREACHABLE = (
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.QueryCanceledError,  # statement_timeout
)


async def create_pool(settings: Settings) -> asyncpg.Pool:
    url = settings.database_url.replace("postgres://", "postgresql://", 1)
    return await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=settings.db_pool_size,
        timeout=DB_WAIT_S,
        command_timeout=None if "commandtimeout" in settings.bench_without else COMMAND_TIMEOUT_S,
        server_settings={"statement_timeout": str(STATEMENT_TIMEOUT_MS)},
    )


@asynccontextmanager
async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    pool: asyncpg.Pool = request.app.state.pg
    conn = await pool.acquire(timeout=request.app.state.pg_wait_s)  # DB_WAIT_S; None: poolwait off
    try:
        yield conn
    except BaseException as exc:
        if isinstance(exc, (*UNREACHABLE, OSError)):
            conn.terminate()  # no reset round trip to a server that did not answer
        raise
    finally:
        await pool.release(conn)


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(
        json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode(),
        status_code=status_code,
        media_type="application/json",
    )


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT))


def _item(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row[0], "name": row[1], "category": row[2], "price": _money(row[3])}


# /healthz without the pydantic response model: FWCAP_BENCH_WITHOUT=statusmodel only.
plain_health = APIRouter()


@plain_health.api_route("/healthz", methods=READ_METHODS)
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.api_route("/readyz", methods=READ_METHODS)
async def readyz(request: Request) -> Response:
    try:
        async with connection(request) as conn:
            await conn.fetchval("SELECT 1")
    except Exception as exc:  # any failure to reach the database means "not ready"
        raise HTTPException(status_code=503) from exc
    return json_response({"status": "ready"})


@router.api_route("/api/items/{id}", methods=READ_METHODS)
async def get_item(request: Request, id: str) -> Response:
    pk = item_pk(id)
    if pk is None:
        raise HTTPException(status_code=404)
    async with connection(request) as conn:
        row = await conn.fetchrow(GET_ITEM, pk)
    if row is None:
        raise HTTPException(status_code=404)
    return json_response(_item(row))


@router.api_route("/api/items", methods=READ_METHODS)
async def list_items(
    request: Request,
    limit: Annotated[QueryInt, Query(ge=1, le=100)] = 20,
    offset: Annotated[QueryInt, Query(ge=0, le=1_000_000)] = 0,
    category: Annotated[str | None, Query()] = None,
) -> Response:
    rows: list[asyncpg.Record] = []
    if category is None or is_storable(category):
        async with connection(request) as conn:
            if category is None:
                rows = await conn.fetch(LIST_ITEMS, limit, offset)
            else:
                rows = await conn.fetch(LIST_ITEMS_IN_CATEGORY, limit, offset, category)
    return json_response({"items": [_item(r) for r in rows], "limit": limit, "offset": offset})


@router.post("/api/items")
async def create_item(request: Request) -> Response:
    body = await read_item_body(request)
    async with connection(request) as conn:
        category_id = None
        if body.slug is not None:
            category_id = await conn.fetchval(CATEGORY_ID, body.slug)
        data = check_item_body(body, category_id is not None)
        item_id = await conn.fetchval(INSERT_ITEM, data.name, data.price, category_id)
    item = {"id": item_id, "name": data.name, "category": body.slug, "price": _money(data.price)}
    return json_response(item, status.HTTP_201_CREATED)


@router.api_route("/api/stats", methods=READ_METHODS)
async def stats(request: Request) -> Response:
    async with connection(request) as conn:
        rows = await conn.fetch(STATS)
    return json_response(
        {
            "categories": [
                {
                    "category": slug,
                    "items": items,
                    "min_price": _money(min_price),
                    "avg_price": _money(avg_price),  # quantize rounds half-even
                    "max_price": _money(max_price),
                    "orders": int(orders),
                }
                for slug, items, min_price, avg_price, max_price, orders in rows
            ]
        }
    )
