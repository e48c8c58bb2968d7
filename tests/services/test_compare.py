"""Django and FastAPI answer the same requests identically (status and JSON body).

Both databases are re-seeded first, so both services start from the same rows; the contract
suite's requests (creates included, in the same order) then go to both, and /api/stats is
compared before and after the creates. Documented volatile fields are left out: the `id` of a
created item and the /metrics body.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from contract_cases import CASES, Call, get

pytestmark = pytest.mark.live

STATS = get("/api/stats")


def comparable(call: Call, response: httpx.Response) -> tuple[int, Any]:
    if call.path == "/metrics" or call.method == "HEAD":
        return response.status_code, response.content if call.method == "HEAD" else None
    try:
        body = response.json()
    except json.JSONDecodeError:
        return response.status_code, f"(not JSON) {response.text[:300]}"
    if response.status_code == 201 and isinstance(body, dict):
        body.pop("id", None)
    return response.status_code, body


def test_both_services_answer_every_contract_request_identically(live_services: Any) -> None:
    django, fastapi = live_services.get("django"), live_services.get("fastapi")
    live_services.reseed("django")
    live_services.reseed("fastapi")
    mismatches = []
    calls = [("stats-after-seed", STATS)] + [(c.id, c.call) for c in CASES]
    calls.append(("stats-after-creates", STATS))
    for case_id, call in calls:
        got_django = comparable(call, call.send(django.base_url))
        got_fastapi = comparable(call, call.send(fastapi.base_url))
        if got_django != got_fastapi:
            mismatches.append(
                f"{case_id}: {call.method} {call.path} body={call.body!r:.120}\n"
                f"  django : {got_django[0]} {got_django[1]!r:.600}\n"
                f"  fastapi: {got_fastapi[0]} {got_fastapi[1]!r:.600}"
            )
    assert not mismatches, f"{len(mismatches)} of {len(calls)} differ:\n" + "\n".join(mismatches)


def test_created_ids_line_up_after_a_reseed(live_services: Any) -> None:
    # The seed resets identity sequences: the next item is 10001 in both databases.
    ids = {}
    for framework in ("django", "fastapi"):
        live_services.reseed(framework)
        created = httpx.post(
            live_services.get(framework).url("/api/items"),
            json={"name": "first", "price": "1.00", "category": "category-01"},
        )
        assert created.status_code == 201, created.text
        ids[framework] = created.json()["id"]
    assert ids == {"django": 10001, "fastapi": 10001}
