"""The async variant (SERVICE_VARIANT=async, served by uvicorn): the contract as async views.

Django's async ORM (`afirst`, `async for`) for the queries and aiohttp for the upstream call, so
a request waiting on the database or the stub holds no thread of its own between queries.
DRF has no async views, so these are plain Django views with the lean variant's helpers (the
same JSON, parameter rules and error mapping); where Django or DRF have no async API,
`sync_to_async` runs the sync code: `connection.cursor()` for /readyz, and POST, which keeps
DRF's serializer (its rules are the contract's, as in the lean variant).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, HttpResponse

from fwcap_django.errors import error_body
from items import upstream
from items.lean_views import (
    _DRF_LIST_CREATE,
    _ITEM_FIELDS,
    _item,
    _json,
    _query_ints,
    item_page,
    methods,
)
from items.models import Item
from items.views import _item_pk, cpu_work, stats_answer, stats_query


@methods("GET")
async def healthz(request: HttpRequest) -> HttpResponse:
    return _json({"status": "ok"})


def _select_1() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


@methods("GET")
async def readyz(request: HttpRequest) -> HttpResponse:
    await sync_to_async(_select_1)()  # Django has no async cursor
    return _json({"status": "ready"})


@methods("GET")
async def item_detail(request: HttpRequest, id: str) -> HttpResponse:
    pk = _item_pk(id)
    row = (
        await Item.objects.filter(pk=pk).values_list(*_ITEM_FIELDS).afirst()
        if pk is not None
        else None
    )
    if row is None:
        return _json(error_body(404), 404)
    return _json(_item(row))


@methods("GET", "POST")
async def items(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        response: HttpResponse = await sync_to_async(_DRF_LIST_CREATE)(request)
        return response
    page, limit, offset = item_page(request)
    return _json({"items": [_item(r) async for r in page], "limit": limit, "offset": offset})


@methods("GET")
async def stats(request: HttpRequest) -> HttpResponse:
    return _json(stats_answer([row async for row in stats_query()]))


@methods("GET")
async def upstream_view(request: HttpRequest) -> HttpResponse:
    delay_ms = _query_ints(request, {"delay_ms": (0, 0, 2000)})["delay_ms"]
    return _json({"upstream": await upstream.adelay(delay_ms)})


@methods("GET")
async def cpu(request: HttpRequest) -> HttpResponse:
    n = _query_ints(request, {"n": (1000, 1, 100_000)})["n"]
    return _json({"n": n, "result": cpu_work(n)})
