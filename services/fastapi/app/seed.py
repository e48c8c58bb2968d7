"""Schema creation and the contract's deterministic seed (`python launch.py migrate|seed`)."""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Integer,
    Numeric,
    String,
    cast,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Insert

from app.models import Base, Category, Item, Order

CATEGORIES = 50
ITEMS = 10_000
ORDERS = 50_000


async def migrate(engine: AsyncEngine) -> None:
    # metadata.create_all rather than Alembic: the schema is created once per empty database and
    # never evolves in place (checkfirst makes a rerun a no-op).
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


def _series(count: int) -> ColumnElement[int]:
    """The column of `generate_series(1, count)`, as a table in a FROM clause."""
    series: ColumnElement[int] = (
        func.generate_series(1, count).table_valued("n").render_derived().c.n
    )
    return series


def _padded(prefix: str, n: ColumnElement[int], width: int) -> ColumnElement[str]:
    """`prefix` then `n` zero-padded to `width` digits, like f"{prefix}{n:0{width}d}"."""
    return literal(prefix) + func.lpad(cast(n, String), width, "0")


def seed_inserts() -> list[Insert]:
    """CONTRACT.md's seed formulas as INSERT ... SELECT over generate_series.

    PostgreSQL builds the 60,000 rows itself: the same rows as sending them from Python, without
    the 4-5 s that took per start-up on a 2-core machine (about 1 s this way).
    tests/services/test_seed.py checks every row against the formulas, in both services.
    """
    c, i, j = _series(CATEGORIES), _series(ITEMS), _series(ORDERS)
    return [
        insert(Category).from_select(
            ["id", "slug", "name"],
            select(c, _padded("category-", c, 2), _padded("Category ", c, 2)),
        ),
        insert(Item).from_select(
            ["id", "name", "category_id", "price"],
            select(
                i,
                _padded("item-", i, 5),
                (i - 1) % CATEGORIES + 1,
                cast((i * 7919) % 100_000, Numeric) / 100,
            ),
        ),
        insert(Order).from_select(
            ["id", "item_id", "quantity"],
            select(j, cast((j * 31) % ITEMS + 1, Integer), j % 5 + 1),
        ),
    ]


async def seed(engine: AsyncEngine) -> None:
    """Wipe and re-create every row in one transaction; the next created item gets id 10001."""
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE orders, items, categories RESTART IDENTITY"))
        for statement in seed_inserts():
            await conn.execute(statement)
        # Explicit ids do not advance identity sequences; move them past the seeded rows.
        for table, last_id in (("items", ITEMS), ("orders", ORDERS)):
            await conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last_id})")
            )
    # What autovacuum would do some time later, done now and outside the transaction (VACUUM
    # cannot run in one): planner statistics and a visibility map, so the first request after
    # a seed already costs what it costs an hour later.
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE) categories, items, orders"))
