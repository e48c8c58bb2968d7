"""Per-category statistics: the join + group-by ("complex ORM query") workload."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from app.config import READ_METHODS
from app.db import SessionDep
from app.models import Category, Item, Order
from app.schemas import Stat, Stats

router = APIRouter(prefix="/api", tags=["stats"])

# Orders are counted per item first, so joining them does not repeat an item's price in the
# average (avg_price is over items, each once). Built once: the statement never changes.
_orders_per_item = (
    select(Order.item_id, func.count().label("orders")).group_by(Order.item_id).subquery()
)
STATS_QUERY = (
    select(
        Category.slug,
        func.count(Item.id),
        func.min(Item.price),
        func.avg(Item.price),
        func.max(Item.price),
        func.coalesce(func.sum(_orders_per_item.c.orders), 0),
    )
    .select_from(Category)
    .outerjoin(Item, Item.category_id == Category.id)
    .outerjoin(_orders_per_item, _orders_per_item.c.item_id == Item.id)
    .group_by(Category.id)
    .order_by(Category.slug)
)


@router.api_route("/stats", methods=READ_METHODS)
async def stats(session: SessionDep) -> Stats:
    rows = await session.execute(STATS_QUERY)
    return Stats(
        categories=[
            Stat(
                category=slug,
                items=items,
                min_price=min_price,
                avg_price=avg_price,  # Money rounds half-even to cents when serialised
                max_price=max_price,
                orders=int(orders),
            )
            for slug, items, min_price, avg_price, max_price, orders in rows
        ]
    )
