"""Items: read one, read a page, create one."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from app.config import READ_METHODS
from app.db import SessionDep
from app.models import Category, Item
from app.schemas import ItemCreate, ItemOut, ItemPage, QueryInt

router = APIRouter(prefix="/api/items", tags=["items"])

MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]+")


def item_pk(segment: str) -> int | None:
    """The primary key a path segment names: ASCII digits (leading zeros allowed), 1..2^63-1."""
    digits = segment.lstrip("0")
    # The length check comes first: int() refuses strings of over 4300 digits (a 500 otherwise).
    if not _DIGITS.fullmatch(segment) or len(digits) > len(str(MAX_ID)):
        return None
    pk = int(digits or "0")
    return pk if 1 <= pk <= MAX_ID else None


def item_out(item: Item) -> ItemOut:
    return ItemOut(id=item.id, name=item.name, category=item.category.slug, price=item.price)


def _with_category() -> Any:
    # Items are always shown with their category's slug: one inner join, never a second query.
    return select(Item).join(Item.category).options(contains_eager(Item.category))


@router.api_route("/{id}", methods=READ_METHODS)
async def get_item(id_text: Annotated[str, Path(alias="id")], session: SessionDep) -> ItemOut:
    # The route takes any segment (so the metric label is the template whatever the client
    # sends); an id that cannot be a row's key is simply "not found".
    pk = item_pk(id_text)
    if pk is None:
        raise HTTPException(status_code=404)
    item = await session.scalar(_with_category().where(Item.id == pk))
    if item is None:
        raise HTTPException(status_code=404)
    return item_out(item)


@router.api_route("", methods=READ_METHODS)
async def list_items(
    session: SessionDep,
    limit: Annotated[QueryInt, Query(ge=1, le=100)] = 20,
    offset: Annotated[QueryInt, Query(ge=0, le=1_000_000)] = 0,
    category: Annotated[str | None, Query()] = None,
) -> ItemPage:
    if category is not None and not is_storable(category):
        # Cannot be a slug (and could not even be sent to PostgreSQL, e.g. a NUL character).
        return ItemPage(items=[], limit=limit, offset=offset)
    stmt = _with_category().order_by(Item.id).limit(limit).offset(offset)
    if category is not None:
        stmt = stmt.where(Category.slug == category)
    items = await session.scalars(stmt)
    return ItemPage(items=[item_out(i) for i in items], limit=limit, offset=offset)


@dataclass(frozen=True)
class NewItem:
    data: ItemCreate
    category: Category


@dataclass(frozen=True)
class ItemBody:
    """A POST body that passed 415/413/400; `errors` are its 422 findings so far."""

    data: ItemCreate | None
    slug: str | None  # the category slug to look up, when it could be one
    errors: list[dict[str, Any]]


async def read_item_body(request: Request) -> ItemBody:
    """The POST body read and checked in the contract's order, 415, 413, 400, then 422.

    Shared with the lean variant (app/lean.py), which looks the category up without the ORM.
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    raw = await request.body()  # the body-limit middleware raises the 413 while we read
    try:
        payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    # JSONDecodeError, UnicodeDecodeError, NaN/Infinity, huge ints; RecursionError: nesting
    # deep enough to exhaust the parser (60000 `[` fit in 64 KiB) is malformed, not a fault.
    except (ValueError, RecursionError) as exc:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST) from exc
    if not isinstance(payload, dict):
        raise RequestValidationError([{"loc": ("body",), "msg": "must be a JSON object"}])
    errors: list[dict[str, Any]] = []
    data: ItemCreate | None = None
    try:
        data = ItemCreate.model_validate(payload)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
    slug = payload.get("category")
    storable_slug = slug if isinstance(slug, str) and is_storable(slug) else None
    return ItemBody(data=data, slug=storable_slug, errors=errors)


def check_item_body(body: ItemBody, category_found: bool) -> ItemCreate:
    """Raise the 422 naming every bad field, the unknown category included."""
    errors = list(body.errors)
    if not category_found and not any(e["loc"][1:2] == ("category",) for e in errors):
        errors.append({"loc": ("body", "category"), "msg": "unknown category"})
    if errors:
        raise RequestValidationError(errors)
    assert body.data is not None
    return body.data


async def valid_new_item(request: Request, session: SessionDep) -> NewItem:
    """Read and validate the POST body, including that the category exists.

    Why a dependency and not an `ItemCreate` body parameter: FastAPI reads and decodes the body
    before any dependency runs, so the contract's check order (415, then 413, then 400, then 422)
    and one 422 naming *every* bad field, the unknown category included, need the database check
    and the body parsing in one place.
    """
    body = await read_item_body(request)
    category = None
    if body.slug is not None:
        category = await session.scalar(select(Category).where(Category.slug == body.slug))
    data = check_item_body(body, category is not None)
    assert category is not None
    return NewItem(data=data, category=category)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_item(
    new: Annotated[NewItem, Depends(valid_new_item)], session: SessionDep
) -> ItemOut:
    item = Item(name=new.data.name, price=new.data.price, category=new.category)
    session.add(item)
    await session.commit()
    return item_out(item)


def _reject_constant(token: str) -> None:
    raise ValueError(f"{token} is not JSON")


def is_storable(text: str) -> bool:
    # NUL and unpaired surrogates are not printable; the driver could not even send them.
    return len(text) <= 50 and text.isprintable()
