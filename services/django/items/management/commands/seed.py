"""`seed`: wipe and re-create the contract's deterministic data set (idempotent)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.core.management.color import no_style
from django.db import connection, transaction

from items.models import Category, Item, Order

CATEGORIES = 50
ITEMS = 10_000
ORDERS = 50_000
BATCH_SIZE = 5_000


def categories() -> list[Category]:
    return [
        Category(id=c, slug=f"category-{c:02d}", name=f"Category {c:02d}")
        for c in range(1, CATEGORIES + 1)
    ]


def items() -> list[Item]:
    return [
        Item(
            id=i,
            name=f"item-{i:05d}",
            category_id=(i - 1) % CATEGORIES + 1,
            price=Decimal((i * 7919) % 100_000) / 100,
        )
        for i in range(1, ITEMS + 1)
    ]


def orders() -> list[Order]:
    return [
        Order(id=j, item_id=(j * 31) % ITEMS + 1, quantity=j % 5 + 1) for j in range(1, ORDERS + 1)
    ]


class Command(BaseCommand):
    help = (
        f"Replace all rows with the contract's seed: {CATEGORIES} categories, {ITEMS} items, "
        f"{ORDERS} orders; the next created item gets id {ITEMS + 1}."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                # One statement for all three tables: a plain DELETE through the ORM would
                # first load every item to cascade to its orders.
                cursor.execute("TRUNCATE orders, items, categories")
            Category.objects.bulk_create(categories())
            Item.objects.bulk_create(items(), batch_size=BATCH_SIZE)
            Order.objects.bulk_create(orders(), batch_size=BATCH_SIZE)
            # The rows above carry explicit ids, so move the identity sequences past them
            # (the SQL `loaddata` uses): the next item is 10001, the next order 50001.
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [Item, Order]):
                    cursor.execute(sql)
        # What autovacuum would do some time later, done now (VACUUM cannot run inside the
        # transaction above): planner statistics, and a visibility map, without which every
        # index-only scan of orders (the /api/stats subquery) also reads the table. Requests
        # right after a seed then cost what they cost an hour later.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) categories, items, orders")
        self.stdout.write(f"seeded {CATEGORIES} categories, {ITEMS} items, {ORDERS} orders")
