"""The contract's endpoints as DRF views. Errors are raised; fwcap_django.errors shapes them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, IntegerField, Max, Min, OuterRef, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.exceptions import NotFound, ParseError, UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from items import upstream
from items.models import Category, Item, Order
from items.serializers import (
    CpuParams,
    ItemListParams,
    ItemSerializer,
    UpstreamParams,
    storable,
)

_ITEM_ID = re.compile(r"[0-9]+")
_MAX_ITEM_ID = 2**63 - 1  # bigint
_CENT = Decimal("0.01")


def _query_params(serializer_class: type[Any], request: Request) -> dict[str, Any]:
    params = serializer_class(data=request.query_params)
    params.is_valid(raise_exception=True)  # 422 naming every bad parameter
    return dict(params.validated_data)


class HealthView(APIView):
    """Liveness: the process answers; the database is not touched."""

    http_method_names = ["get", "head"]

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(APIView):
    """Readiness: a round trip to PostgreSQL (503 when it cannot be reached within 2 s)."""

    http_method_names = ["get", "head"]

    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return Response({"status": "ready"})


class ItemListCreateView(APIView):
    http_method_names = ["get", "head", "post"]

    def get(self, request: Request) -> Response:
        params = _query_params(ItemListParams, request)
        limit, offset = params["limit"], params["offset"]
        items = Item.objects.select_related("category").order_by("id")
        category = request.query_params.get("category")
        if category is not None:
            # A slug PostgreSQL could not even hold matches nothing; don't send it.
            items = items.filter(category__slug=category) if storable(category) else items.none()
        page = items[offset : offset + limit]
        return Response(
            {"items": ItemSerializer(page, many=True).data, "limit": limit, "offset": offset}
        )

    def post(self, request: Request) -> Response:
        serializer = ItemSerializer(data=_json_body(request))
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_201_CREATED)


def _json_body(request: Request) -> Any:
    """The parsed body, failing in the contract's order: 415, then 413, then 400.

    `request.data` alone would treat an empty body as `{}` whatever its Content-Type, so the
    media type and the emptiness are checked here first.
    """
    if request.negotiator.select_parser(request, request.parsers) is None:
        raise UnsupportedMediaType(request.content_type)
    if not request.body:  # reading the body enforces the size limit: RequestDataTooBig, 413
        raise ParseError("Malformed JSON body")
    return request.data


def _item_pk(segment: str) -> int | None:
    """The primary key a path segment names: ASCII digits (leading zeros allowed), 1..2^63-1."""
    digits = segment.lstrip("0")
    # The length check comes first: int() refuses strings of over 4300 digits.
    if not _ITEM_ID.fullmatch(segment) or len(digits) > len(str(_MAX_ITEM_ID)):
        return None
    pk = int(digits or "0")
    return pk if 1 <= pk <= _MAX_ITEM_ID else None


class ItemDetailView(APIView):
    http_method_names = ["get", "head"]

    def get(self, request: Request, id: str) -> Response:
        # The route takes any path segment so that the metric label is /api/items/{id} for
        # every request; what is not a positive bigint is simply not found.
        pk = _item_pk(id)
        if pk is None:
            raise NotFound
        item = get_object_or_404(Item.objects.select_related("category"), pk=pk)
        return Response(ItemSerializer(item).data)


def _price(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(_CENT, rounding=ROUND_HALF_EVEN))


class StatsView(APIView):
    """Per-category aggregates in one SQL query.

    Items are joined and grouped per category; orders are counted in a correlated subquery,
    not joined, because joining them as well would repeat each item once per order and skew
    the item count and the average price.
    """

    http_method_names = ["get", "head"]

    def get(self, request: Request) -> Response:
        return Response(stats_body())


def stats_body() -> dict[str, Any]:
    """The /api/stats answer (shared with the lean variant's plain view)."""
    return stats_answer(stats_query())


def stats_query() -> QuerySet[Category, tuple[Any, ...]]:
    """One row per category: slug, item count, min/avg/max price, order count (or None)."""
    orders = (
        Order.objects.filter(item__category=OuterRef("pk"))
        .order_by()
        .values("item__category")
        .annotate(n=Count("*"))
        .values("n")
    )
    return (
        Category.objects.annotate(
            item_count=Count("items"),
            min_price=Min("items__price"),
            avg_price=Avg("items__price"),
            max_price=Max("items__price"),
            # Bare, not wrapped in Coalesce: Django would then put the whole expression in
            # GROUP BY and PostgreSQL would run the subquery once per item row instead of
            # once per category. A category without items gets None, counted as 0 below.
            order_count=Subquery(orders, output_field=IntegerField()),
        )
        .order_by("slug")
        .values_list("slug", "item_count", "min_price", "avg_price", "max_price", "order_count")
    )


def stats_answer(categories: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """The /api/stats body from the rows of `stats_query()` (run sync, or async in views_async)."""
    return {
        "categories": [
            {
                "category": slug,
                "items": item_count,
                "min_price": _price(min_price),
                "avg_price": _price(avg_price),
                "max_price": _price(max_price),
                "orders": order_count or 0,
            }
            for slug, item_count, min_price, avg_price, max_price, order_count in categories
        ]
    }


class UpstreamView(APIView):
    """One outbound HTTP call to the stub through the worker's pooled client."""

    http_method_names = ["get", "head"]

    def get(self, request: Request) -> Response:
        delay_ms = _query_params(UpstreamParams, request)["delay_ms"]
        return Response({"upstream": upstream.delay(delay_ms)})


def cpu_work(n: int) -> str:
    """The contract's CPU-bound loop: pure Python, holds the GIL."""
    h = hashlib.sha256(b"fwcap").digest()
    for _ in range(n):
        h = hashlib.sha256(h).digest()
    return h.hex()


class CpuView(APIView):
    http_method_names = ["get", "head"]

    def get(self, request: Request) -> Response:
        n = _query_params(CpuParams, request)["n"]
        return Response({"n": n, "result": cpu_work(n)})
