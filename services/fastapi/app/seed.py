"""Schema creation and the contract's deterministic seed (`python launch.py migrate|seed`)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.models import Base, Category, Item, Order

CATEGORIES = 50
ITEMS = 10_000
ORDERS = 50_000
BATCH_ROWS = 5_000


async def migrate(engine: AsyncEngine) -> None:
    # metadata.create_all rather than Alembic: the schema is created once per empty database and
    # never evolves in place (checkfirst makes a rerun a no-op).
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


def seed_rows() -> tuple[list[dict[str, object]], ...]:
    categories = [
        {"id": c, "slug": f"category-{c:02d}", "name": f"Category {c:02d}"}
        for c in range(1, CATEGORIES + 1)
    ]
    items = [
        {
            "id": i,
            "name": f"item-{i:05d}",
            "category_id": (i - 1) % CATEGORIES + 1,
            "price": Decimal((i * 7919) % 100_000) / 100,
        }
        for i in range(1, ITEMS + 1)
    ]
    orders = [
        {"id": j, "item_id": (j * 31) % ITEMS + 1, "quantity": j % 5 + 1}
        for j in range(1, ORDERS + 1)
    ]
    return categories, items, orders


async def seed(engine: AsyncEngine) -> None:
    """Wipe and re-create every row in one transaction; the next created item gets id 10001."""
    categories, items, orders = seed_rows()
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE orders, items, categories RESTART IDENTITY"))
        for table, rows in ((Category, categories), (Item, items), (Order, orders)):
            for start in range(0, len(rows), BATCH_ROWS):
                await conn.execute(insert(table), rows[start : start + BATCH_ROWS])
        # Explicit ids do not advance identity sequences; move them past the seeded rows.
        for table, last_id in (("items", ITEMS), ("orders", ORDERS)):
            await conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last_id})")
            )
        # Fresh statistics, so the first request after a seed already gets steady-state plans.
        await conn.execute(text("ANALYZE categories, items, orders"))
