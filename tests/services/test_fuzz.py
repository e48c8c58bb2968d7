"""Property-based fuzzing of each live service against services/openapi.yaml (schemathesis 4).

Valid and invalid requests for every operation; each response must not be a 5xx, must have a
status the document lists for that operation, and must match that status's schema exactly.
The requests actually sent are counted (at least 300 per service).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.live

OPENAPI = Path(__file__).resolve().parents[2] / "services" / "openapi.yaml"
MIN_REQUESTS = 300
EXAMPLES = 360  # a little above the floor: hypothesis skips inputs it has already tried
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# The stub really sleeps; a fuzzer that picks delays up to 2 s would spend minutes waiting.
# Valid delays are folded into 0..19 ms (the 0..2000 bounds are contract-suite cases).
FUZZ_MAX_DELAY_MS = 20


class CountingSession(requests.Session):
    """A requests session that counts what it really sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent += 1
        return super().request(*args, **kwargs)


def all_cases() -> st.SearchStrategy[schemathesis.Case]:
    schema = schemathesis.openapi.from_path(OPENAPI)
    strategies = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        has_inputs = operation.path_parameters or operation.query or operation.body
        if has_inputs:
            strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    return st.one_of(strategies)


def cap_delay(case: schemathesis.Case) -> None:
    if case.operation.path == "/api/upstream" and isinstance(case.query, dict):
        delay = case.query.get("delay_ms")
        if isinstance(delay, int) and 0 <= delay <= 2000:
            case.query["delay_ms"] = delay % FUZZ_MAX_DELAY_MS


def test_fuzzer_finds_no_5xx_and_no_contract_violation(service: Any) -> None:
    session = CountingSession()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # no example database files left in the repo
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=all_cases())
    def fuzz(case: schemathesis.Case) -> None:
        cap_delay(case)
        case.call_and_validate(base_url=service.base_url, session=session, checks=CHECKS)

    fuzz()
    print(f"{service.framework}: {session.sent} requests sent by the fuzzer")
    assert session.sent >= MIN_REQUESTS, f"only {session.sent} requests were sent"
