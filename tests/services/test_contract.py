"""The contract suite: every row of contract_cases.CASES against each live service, unchanged.

Plus what a single row cannot express: /api/stats against raw SQL on the same database,
/readyz while the database is unreachable, workers derived from the CPU limit, and the
launchers' refusal of bad environment variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import psutil
import pytest

from capacity.polling import Pending, poll_until
from capacity.target.process import ProcessGroup, free_port
from capacity.target.services import FRAMEWORKS, service_dir, start_service
from tests.services.contract_cases import ANY_BODY, CASES, Case
from tests.services.live_support import HISTOGRAM, error

pytestmark = pytest.mark.live


def check_response(case: Case, response: httpx.Response) -> None:
    where = f"{case.call.method} {case.call.path}"
    assert response.status_code == case.status, f"{where}: {response.status_code} {response.text}"
    if case.call.method == "HEAD":
        assert response.content == b"", f"{where}: HEAD answered with a body"
        return
    if case.call.path == "/metrics":
        assert response.headers["content-type"].startswith("text/plain")
        assert HISTOGRAM in response.text
        return
    assert response.headers["content-type"].startswith("application/json"), where
    if case.status == 405:
        assert response.headers.get("allow"), f"{where}: a 405 without an Allow header"
    body = response.json()
    if case.status == 201:
        assert isinstance(body.get("id"), int) and body["id"] > 10000, f"{where}: {body}"
        body = {k: v for k, v in body.items() if k != "id"}
    if case.body is not ANY_BODY:
        assert body == case.body, f"{where}: got {body}"


def test_the_suite_has_at_least_30_cases() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_contract(service: Any, case: Case) -> None:
    check_response(case, case.call.send(service.base_url))


def test_created_item_reads_back_identically(service: Any) -> None:
    created = httpx.post(
        service.url("/api/items"),
        json={"name": "read-back", "price": " 7.5 ", "category": "category-42"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["price"] == "7.50"
    again = httpx.get(service.url(f"/api/items/{body['id']}"))
    assert again.status_code == 200
    assert again.json() == body


def _expected_stats(live_services: Any, database: str) -> list[dict[str, Any]]:
    """Recompute /api/stats from raw rows with plain SQL and Python arithmetic."""
    rows = live_services.postgres.psql(
        "SELECT c.slug, i.price, (SELECT count(*) FROM orders o WHERE o.item_id = i.id) "
        "FROM categories c LEFT JOIN items i ON i.category_id = c.id ORDER BY c.slug",
        database,
    )
    per_category: dict[str, list[tuple[Decimal, int]]] = {}
    for line in rows.splitlines():
        slug, price, orders = line.split("|")
        per_category.setdefault(slug, [])
        if price:
            per_category[slug].append((Decimal(price), int(orders)))
    stats = []
    for slug, items in sorted(per_category.items()):
        prices = [p for p, _ in items]
        avg = (
            (sum(prices) / len(prices)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
            if prices
            else None
        )
        stats.append({
            "category": slug,
            "items": len(items),
            "min_price": f"{min(prices):.2f}" if prices else None,
            "avg_price": f"{avg:.2f}" if avg is not None else None,
            "max_price": f"{max(prices):.2f}" if prices else None,
            "orders": sum(o for _, o in items),
        })  # fmt: skip
    return stats


def test_stats_match_raw_sql(service: Any, live_services: Any) -> None:
    expected = _expected_stats(live_services, service.database)
    got = httpx.get(service.url("/api/stats"), timeout=30).json()["categories"]
    assert len(got) == 50
    assert got == expected


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_readyz_is_503_when_the_database_is_unreachable_and_workers_follow_cpu_limit(
    framework: str, tmp_path: Any, upstream_url: str
) -> None:
    dead_port = free_port()  # nothing listens there
    with ProcessGroup(tmp_path / "logs") as group:
        handle = start_service(
            group, framework, name=f"{framework}-no-db", port=free_port(),
            database_url=f"postgresql://fwcap:fwcap@127.0.0.1:{dead_port}/nowhere",
            upstream_url=upstream_url, cpu_limit_millicores=1500,
        )  # fmt: skip
        assert httpx.get(handle.url("/healthz")).json() == {"status": "ok"}
        # Every endpoint that needs the database answers 503 in the contract's shape.
        for method, path in (("GET", "/readyz"), ("GET", "/api/items/1"), ("POST", "/api/items")):
            answer = httpx.request(
                method, handle.url(path), timeout=15,
                json={"name": "n", "price": "1.00", "category": "category-01"},
            )  # fmt: skip
            assert (answer.status_code, answer.json()) == (503, error(503)), f"{method} {path}"
        # CPU_LIMIT_MILLICORES=1500 and no WORKERS: the launcher must run ceil(1.5) = 2.
        # /healthz answered once one worker was up; the master forks the next one on its own
        # schedule (gunicorn waits up to 0.1 s between spawns), which a busy machine stretches.
        # So wait for the second worker, then require no more than two.
        server = psutil.Process(handle.process.pid)

        def workers() -> list[psutil.Process]:
            return [
                p for p in server.children()
                if "resource_tracker" not in " ".join(p.cmdline())
            ]  # fmt: skip

        def two_workers() -> list[psutil.Process] | Pending:
            found = workers()
            return found if len(found) >= 2 else Pending(f"{len(found)} worker(s) running")

        found = poll_until(
            two_workers, timeout_s=30, interval_s=0.1,
            on_timeout=lambda last: AssertionError(f"{framework}: {last} after 30 s"),
        )  # fmt: skip
        assert len(found) == 2, [p.cmdline() for p in server.children()]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    ("variable", "value"),
    [("DATABASE_URL", "mysql://x@y/z"), ("WORKERS", "two"), ("PORT", "70000"),
     ("CPU_LIMIT_MILLICORES", "-1")],
)  # fmt: skip
def test_launcher_refuses_bad_environment_naming_the_variable(
    framework: str, variable: str, value: str
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://fwcap:fwcap@127.0.0.1:1/x",
        "PORT": str(free_port()),
        variable: value,
    }
    done = subprocess.run(
        [sys.executable, "launch.py"], cwd=service_dir(framework), env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert variable in done.stderr + done.stdout
