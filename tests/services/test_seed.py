"""Both services' seed writes exactly CONTRACT.md's rows, resets the identities, and vacuums.

The rows are recomputed here from the contract's formulas, never from a service's own code, and
read back from each service's database row by row.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from capacity.target.services import FRAMEWORKS
from tests.conftest import ServicePool

pytestmark = pytest.mark.live

TABLES = ("categories", "items", "orders")


def expected_rows() -> dict[str, list[str]]:
    """Each table's rows as `psql -At` prints them, from CONTRACT.md's seed formulas."""
    return {
        "categories": [f"{c}|category-{c:02d}|Category {c:02d}" for c in range(1, 51)],
        "items": [
            f"{i}|item-{i:05d}|{(i - 1) % 50 + 1}|{Decimal((i * 7919) % 100000) / 100:.2f}"
            for i in range(1, 10_001)
        ],
        "orders": [f"{j}|{(j * 31) % 10000 + 1}|{j % 5 + 1}" for j in range(1, 50_001)],
    }


COLUMNS = {
    "categories": "id, slug, name",
    "items": "id, name, category_id, price",
    "orders": "id, item_id, quantity",
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_seed_writes_the_contracts_rows_and_leaves_them_vacuumed(
    live_services: ServicePool, framework: str
) -> None:
    live_services.get(framework)
    live_services.reseed(framework)
    database = f"fwcap_{framework}"

    def psql(sql: str) -> list[str]:
        return live_services.postgres.psql(sql, database).splitlines()

    for table, rows in expected_rows().items():
        got = psql(f"SELECT {COLUMNS[table]} FROM {table} ORDER BY id")
        assert len(got) == len(rows), f"{framework} {table}: {len(got)} rows"
        wrong = [(want, have) for want, have in zip(rows, got, strict=True) if want != have]
        assert not wrong, f"{framework} {table}: first wrong rows {wrong[:3]}"
    # The next created item is 10001 and the next order 50001 (read without taking a value).
    last = psql(
        "SELECT pg_sequence_last_value(pg_get_serial_sequence('items', 'id')::regclass),"
        " pg_sequence_last_value(pg_get_serial_sequence('orders', 'id')::regclass)"
    )
    assert last == ["10000|50000"], f"{framework}: identities at {last}"
    # VACUUM (not only ANALYZE) ran: every page of every table is marked all-visible.
    unvacuumed = psql(
        "SELECT relname, relpages, relallvisible FROM pg_class"
        f" WHERE relname IN {TABLES!r} AND (relpages = 0 OR relallvisible < relpages)"
    )
    assert unvacuumed == [], f"{framework}: tables not vacuumed after the seed: {unvacuumed}"
