"""Pydantic models: the request and response shapes of the contract, and its input rules."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictStr,
)

CENT = Decimal("0.01")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _format_money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_EVEN))


# Prices travel as strings with exactly two decimals.
Money = Annotated[Decimal, PlainSerializer(_format_money, return_type=str)]


def _strict_integer(value: Any) -> Any:
    # Pydantic's lax int also takes " 5", "5.0" and "5_0"; the contract takes digits only.
    if isinstance(value, str) and not _INTEGER.fullmatch(value):
        raise ValueError("must be an integer written with ASCII digits")
    return value


QueryInt = Annotated[int, BeforeValidator(_strict_integer)]


def _storable_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and unpaired surrogates cannot be encoded as UTF-8.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode") from exc
    return value


def _parse_price(value: Any) -> Decimal:
    """DRF's DecimalField(max_digits=10, decimal_places=2, min_value=0), rule for rule."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a number or a numeric string")
    text = str(value).strip()
    if len(text) > 1000:
        raise ValueError("string value too large")
    try:
        price = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError("must be a number") from exc
    if not price.is_finite():
        raise ValueError("must be a finite number")
    _, digits, exponent = price.as_tuple()
    assert isinstance(exponent, int)  # finite decimals have an integer exponent
    if exponent >= 0:
        whole_digits, decimal_places = len(digits) + exponent, 0
    elif len(digits) > -exponent:
        whole_digits, decimal_places = len(digits) + exponent, -exponent
    else:
        whole_digits, decimal_places = 0, -exponent
    if decimal_places > 2 or whole_digits > 8:
        raise ValueError("at most 8 digits before and 2 after the decimal point")
    if price < 0:
        raise ValueError("must be >= 0")
    # copy_abs: "-0" is a valid zero and is stored (and returned) as 0.00.
    return price.copy_abs().quantize(CENT)


class ItemCreate(BaseModel):
    """The POST body. Unknown keys are ignored (pydantic's default)."""

    name: Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(_storable_text)]
    price: Annotated[Decimal, PlainValidator(_parse_price)]
    # Existence is checked against the database by the view's dependency.
    category: StrictStr


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    category: str
    price: Money


class ItemPage(BaseModel):
    items: list[ItemOut]
    limit: int
    offset: int


class Stat(BaseModel):
    category: str
    items: int
    min_price: Money | None
    avg_price: Money | None
    max_price: Money | None
    orders: int


class Stats(BaseModel):
    categories: list[Stat]


class Status(BaseModel):
    status: str


class UpstreamAnswer(BaseModel):
    delay_ms: int


class UpstreamOut(BaseModel):
    upstream: UpstreamAnswer


class CpuOut(BaseModel):
    n: int
    result: str
