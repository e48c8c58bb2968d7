"""`seed`: wipe and re-create the contract's deterministic data set (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.core.management.color import no_style
from django.db import connection, transaction

from items.models import Item, Order

CATEGORIES = 50
ITEMS = 10_000
ORDERS = 50_000

# CONTRACT.md's seed formulas, evaluated by PostgreSQL over generate_series: the same rows as
# building 60,000 model instances for bulk_create, without the 5-7 s that took per start-up on
# a 2-core machine (under 1 s this way). tests/services/test_seed.py checks every row against
# the formulas, in both services' databases.
INSERT_ROWS = (
    (
        "INSERT INTO categories (id, slug, name)"
        " SELECT c, 'category-' || lpad(c::text, 2, '0'), 'Category ' || lpad(c::text, 2, '0')"
        " FROM generate_series(1, %(categories)s) AS c"
    ),
    (
        "INSERT INTO items (id, name, category_id, price)"
        " SELECT i, 'item-' || lpad(i::text, 5, '0'), (i - 1) %% %(categories)s + 1,"
        " ((i * 7919) %% 100000)::numeric / 100"
        " FROM generate_series(1, %(items)s) AS i"
    ),
    (
        "INSERT INTO orders (id, item_id, quantity)"
        " SELECT j, (j * 31) %% %(items)s + 1, j %% 5 + 1"
        " FROM generate_series(1, %(orders)s) AS j"
    ),
)


class Command(BaseCommand):
    help = (
        f"Replace all rows with the contract's seed: {CATEGORIES} categories, {ITEMS} items, "
        f"{ORDERS} orders; the next created item gets id {ITEMS + 1}."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = {"categories": CATEGORIES, "items": ITEMS, "orders": ORDERS}
        with transaction.atomic(), connection.cursor() as cursor:
            # One statement for all three tables: a plain DELETE through the ORM would
            # first load every item to cascade to its orders.
            cursor.execute("TRUNCATE orders, items, categories")
            for sql in INSERT_ROWS:
                cursor.execute(sql, counts)
            # The rows above carry explicit ids, so move the identity sequences past them
            # (the SQL `loaddata` uses): the next item is 10001, the next order 50001.
            for sql in connection.ops.sequence_reset_sql(no_style(), [Item, Order]):
                cursor.execute(sql)
        # What autovacuum would do some time later, done now (VACUUM cannot run inside the
        # transaction above): planner statistics, and a visibility map, without which every
        # index-only scan of orders (the /api/stats subquery) also reads the table. Requests
        # right after a seed then cost what they cost an hour later.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) categories, items, orders")
        self.stdout.write(f"seeded {CATEGORIES} categories, {ITEMS} items, {ORDERS} orders")
