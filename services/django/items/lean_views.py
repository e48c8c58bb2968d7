"""The lean variant (SERVICE_VARIANT=lean): the same endpoints as plain Django views, no DRF.

Same ORM queries, middleware, metrics and error shapes as the idiomatic service; what is left
out is Django REST framework's request/response cycle (APIView, content negotiation, renderer,
serializers) on every read. Its job is to show, next to the idiomatic service, how much of
Django's cost per request is the framework and how much DRF (TechEmpower's Django entry is
written this way). `POST /api/items` still validates with the DRF serializer: its rules *are*
the contract's (DRF's DecimalField, rule for rule), and the write path is not what the lean
variant is for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from functools import wraps
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse

from fwcap_django.errors import error_body, status_of
from items import upstream
from items.models import Item
from items.serializers import storable
from items.views import ItemListCreateView, _item_pk, cpu_work, stats_body

_INTEGER = re.compile(r"[+-]?[0-9]+")
_CENT = Decimal("0.01")
_DRF_LIST_CREATE = ItemListCreateView.as_view()

View = Callable[..., HttpResponse]


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> JsonResponse:
    # Compact separators, like DRF's JSONRenderer: byte-for-byte the idiomatic service's body.
    return JsonResponse(
        content, status=status, headers=headers, json_dumps_params={"separators": (",", ":")}
    )


def methods(*allowed: str) -> Callable[[View], View]:
    """Django's require_http_methods, answering the contract's JSON 405 (HEAD rides on GET)."""
    names = {*allowed, *(("HEAD",) if "GET" in allowed else ())}
    allow = ", ".join(sorted(names))

    def decorate(view: View) -> View:
        if iscoroutinefunction(view):  # an async view (items/views_async.py)

            @wraps(view)
            async def checked_async(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                if request.method not in names:
                    return _json(error_body(405), 405, {"Allow": allow})
                try:
                    return await view(request, *args, **kwargs)
                except Exception as exc:
                    return error_answer(exc)

            return checked_async

        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in names:
                return _json(error_body(405), 405, {"Allow": allow})
            try:
                return view(request, *args, **kwargs)
            except Exception as exc:
                return error_answer(exc)

        return checked

    return decorate


def error_answer(exc: Exception) -> HttpResponse:
    """An expected failure in the contract's shape; anything else is re-raised (a bug, so
    Django's handler500 answers it). Call from an `except` block."""
    if isinstance(exc, BadParameters):
        return _json(error_body(422, exc.names), 422)
    # The idiomatic service's mapping (database 503, upstream 502, cut body 499).
    status = status_of(exc)
    if status is None:
        raise exc
    return _json(error_body(status), status)


class BadParameters(Exception):
    def __init__(self, names: list[str]) -> None:
        self.names = names


def _query_ints(request: HttpRequest, rules: dict[str, tuple[int, int, int]]) -> dict[str, int]:
    """The integer query parameters, {name: (default, lowest, highest)}; the last value wins."""
    values: dict[str, int] = {}
    bad: list[str] = []
    for name, (default, lowest, highest) in rules.items():
        raw = request.GET.get(name)
        if raw is None:
            values[name] = default
        elif _INTEGER.fullmatch(raw) and lowest <= int(raw) <= highest:
            values[name] = int(raw)
        else:
            bad.append(name)
    if bad:
        raise BadParameters(bad)
    return values


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(_CENT, rounding=ROUND_HALF_EVEN))


_ITEM_FIELDS = ("id", "name", "category__slug", "price")


def _item(row: tuple[int, str, str, Decimal]) -> dict[str, Any]:
    return {"id": row[0], "name": row[1], "category": row[2], "price": _money(row[3])}


@methods("GET")
def healthz(request: HttpRequest) -> HttpResponse:
    return _json({"status": "ok"})


@methods("GET")
def readyz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return _json({"status": "ready"})


@methods("GET")
def item_detail(request: HttpRequest, id: str) -> HttpResponse:
    pk = _item_pk(id)
    row = Item.objects.filter(pk=pk).values_list(*_ITEM_FIELDS).first() if pk is not None else None
    if row is None:
        return _json(error_body(404), 404)
    return _json(_item(row))


@methods("GET", "POST")
def items(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _DRF_LIST_CREATE(request)  # type: ignore[no-any-return]
    page, limit, offset = item_page(request)
    return _json({"items": [_item(r) for r in page], "limit": limit, "offset": offset})


def item_page(request: HttpRequest) -> tuple[QuerySet[Item, Any], int, int]:
    """The rows GET /api/items asks for (not yet run), its limit and its offset."""
    params = _query_ints(request, {"limit": (20, 1, 100), "offset": (0, 0, 1_000_000)})
    limit, offset = params["limit"], params["offset"]
    rows = Item.objects.order_by("id")
    category = request.GET.get("category")
    if category is not None:
        rows = rows.filter(category__slug=category) if storable(category) else rows.none()
    return rows.values_list(*_ITEM_FIELDS)[offset : offset + limit], limit, offset


@methods("GET")
def stats(request: HttpRequest) -> HttpResponse:
    return _json(stats_body())


@methods("GET")
def upstream_view(request: HttpRequest) -> HttpResponse:
    delay_ms = _query_ints(request, {"delay_ms": (0, 0, 2000)})["delay_ms"]
    return _json({"upstream": upstream.delay(delay_ms)})


@methods("GET")
def cpu(request: HttpRequest) -> HttpResponse:
    n = _query_ints(request, {"n": (1000, 1, 100_000)})["n"]
    return _json({"n": n, "result": cpu_work(n)})
