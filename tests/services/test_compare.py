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

from tests.services.contract_cases import CASES, Call, get
from tests.services.live_support import seeded_stats

pytestmark = pytest.mark.live

STATS = get("/api/stats")


def created_id(response: httpx.Response) -> int | None:
    return response.json().get("id") if response.status_code == 201 else None


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
    # Right after the seed, both must give the numbers CONTRACT.md's formulas give.
    for service in (django, fastapi):
        answer = STATS.send(service.base_url)
        assert answer.json() == {"categories": seeded_stats()}, service.framework
    mismatches = []
    calls = [("stats-after-seed", STATS)] + [(c.id, c.call) for c in CASES]
    calls.append(("stats-after-creates", STATS))
    first_ids: dict[str, int] = {}
    for case_id, call in calls:
        answers = {"django": call.send(django.base_url), "fastapi": call.send(fastapi.base_url)}
        for framework, answer in answers.items():
            if (new_id := created_id(answer)) is not None:
                first_ids.setdefault(framework, new_id)
        got_django = comparable(call, answers["django"])
        got_fastapi = comparable(call, answers["fastapi"])
        if got_django != got_fastapi:
            mismatches.append(
                f"{case_id}: {call.method} {call.path} body={call.body!r:.120}\n"
                f"  django : {got_django[0]} {got_django[1]!r:.600}\n"
                f"  fastapi: {got_fastapi[0]} {got_fastapi[1]!r:.600}"
            )
    assert not mismatches, f"{len(mismatches)} of {len(calls)} differ:\n" + "\n".join(mismatches)
    # The seed resets identity sequences: the first item created after it is 10001 in both.
    assert first_ids == {"django": 10001, "fastapi": 10001}
