"""The lean variants honour the same contract: every contract row, the metric labels, the 405."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.services.contract_cases import CASES, Case
from tests.services.live_support import histogram_samples, metrics_when, request_count
from tests.services.test_contract import check_response

pytestmark = pytest.mark.live


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_contract(lean_service: Any, case: Case) -> None:
    check_response(case, case.call.send(lean_service.base_url))


def test_metrics_carry_the_variant_as_app_label(lean_service: Any) -> None:
    httpx.get(lean_service.url("/api/items/abc"))
    item_404 = {"http_route": "/api/items/{id}", "http_response_status_code": "404"}
    text = metrics_when(
        lean_service.base_url,
        lambda t: request_count(t, **item_404) > 0,
        f"a request counted under {item_404}",
    )
    apps = {labels["app"] for _, labels, _ in histogram_samples(text)}
    assert apps == {lean_service.framework}


def test_405_allow_header_lists_every_method_the_path_serves(lean_service: Any) -> None:
    answer = httpx.put(lean_service.url("/api/items"), json={})
    assert answer.status_code == 405
    assert {m.strip() for m in answer.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}
