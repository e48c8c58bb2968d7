"""The contract's three tables, column for column and index for index with the FastAPI service.

Constraint and index names are given explicitly where Django would otherwise invent its own, so
both services' schemas list the same indexes. `unique=True`/`db_index=True` are avoided on the
varchar columns because on PostgreSQL Django adds a second `varchar_pattern_ops` index for LIKE
queries, which this API never runs.
"""

from __future__ import annotations

from django.db import models


class Category(models.Model):
    # A plain integer key, not an identity: categories are reference data the seed numbers 1..50.
    id = models.IntegerField(primary_key=True)
    slug = models.CharField(max_length=50)
    name = models.CharField(max_length=100)

    class Meta:
        db_table = "categories"
        constraints = [models.UniqueConstraint(fields=["slug"], name="categories_slug_key")]

    def __str__(self) -> str:
        return self.slug


class Item(models.Model):
    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="items", db_index=False
    )

    class Meta:
        db_table = "items"
        indexes = [models.Index(fields=["category"], name="ix_items_category_id")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="items_price_non_negative"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Order(models.Model):
    id = models.BigAutoField(primary_key=True)
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="orders", db_index=False)
    quantity = models.IntegerField()

    class Meta:
        db_table = "orders"
        indexes = [models.Index(fields=["item"], name="ix_orders_item_id")]
