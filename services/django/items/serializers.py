"""DRF serializers: the Item representation, the POST body rules and the query parameters."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from items.models import Category, Item


def storable(text: str) -> bool:
    """Whether PostgreSQL can hold `text`: no U+0000 and no lone surrogate."""
    return "\x00" not in text and not any("\ud800" <= ch <= "\udfff" for ch in text)


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF's CharField would accept the number 12 as "12"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PriceField(serializers.DecimalField):
    """DRF's DecimalField, with -0 stored and answered as 0.00 (PostgreSQL has no -0)."""

    def to_internal_value(self, data: Any) -> Decimal:
        value: Decimal = super().to_internal_value(data)
        return abs(value) if value.is_zero() else value


class CategorySlugField(serializers.SlugRelatedField[Category]):
    """The category by its slug; only a JSON string that PostgreSQL could hold is looked up."""

    def to_internal_value(self, data: Any) -> Category:
        if not isinstance(data, str) or not storable(data):
            self.fail("invalid")
        category: Category = super().to_internal_value(data)
        return category


class ItemSerializer(serializers.ModelSerializer[Item]):
    name = StrictCharField(max_length=200, trim_whitespace=False)
    price = PriceField(max_digits=10, decimal_places=2, min_value=Decimal(0))
    category = CategorySlugField(slug_field="slug", queryset=Category.objects.all())

    class Meta:
        model = Item
        fields = ["id", "name", "category", "price"]


_INTEGER = re.compile(r"[+-]?[0-9]+")


class QueryInteger(serializers.IntegerField):
    """An integer query parameter: an optional sign and ASCII digits, nothing else.

    DRF's IntegerField alone would also take ` 5`, `5.0` or `1_0`; and it treats an empty
    value as absent, where the contract calls `limit=` a bad value.
    """

    def get_value(self, dictionary: Any) -> Any:
        return dictionary.get(self.field_name, empty)  # a QueryDict: the last value wins

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str) or not _INTEGER.fullmatch(data):
            self.fail("invalid")
        value: int = super().to_internal_value(data)
        return value


class ItemListParams(serializers.Serializer[Any]):
    limit = QueryInteger(min_value=1, max_value=100, default=20)
    offset = QueryInteger(min_value=0, max_value=1_000_000, default=0)


class UpstreamParams(serializers.Serializer[Any]):
    delay_ms = QueryInteger(min_value=0, max_value=2000, default=0)


class CpuParams(serializers.Serializer[Any]):
    n = QueryInteger(min_value=1, max_value=100_000, default=1000)
