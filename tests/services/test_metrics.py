"""The metric contract on the live services: exact counts summed over worker processes, route
templates as labels, and the same names, labels and buckets in both services."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from capacity.target.services import FRAMEWORKS
from tests.services.live_support import (
    CONTRACT_BUCKETS,
    HISTOGRAM,
    LABELS,
    histogram_help,
    histogram_samples,
    metrics_when,
    request_count,
)

pytestmark = pytest.mark.live

BURST = 200


def scrape(service: Any) -> str:
    response = httpx.get(service.url("/metrics"), timeout=30)
    assert response.status_code == 200
    return response.text


def test_a_burst_is_counted_exactly_summed_over_all_workers(service: Any) -> None:
    route = {"http_route": "/api/items/{id}", "http_request_method": "GET",
             "http_response_status_code": "200"}  # fmt: skip
    before = request_count(scrape(service), **route)

    def fetch(i: int) -> int:
        # A new connection per request, from 8 threads at once, so both workers take a share.
        return httpx.get(
            service.url(f"/api/items/{i % 10000 + 1}"), headers={"Connection": "close"}
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fetch, range(BURST)))
    assert statuses == [200] * BURST

    # Wait until the burst is counted (the last observations may trail the responses,
    # live_support.metrics_when), then require exactly the burst: never more.
    text = metrics_when(
        service.base_url,
        lambda t: request_count(t, **route) - before >= BURST,
        f"{BURST} more {route} requests counted",
    )
    assert request_count(text, **route) - before == BURST
    # Each worker process writes its own file: two workers, two histogram files were summed.
    files = list(service.handle.multiproc_dir.glob("histogram_*.db"))
    assert len(files) >= 2, files


def test_labels_are_route_templates_and_the_contract_placeholders(service: Any) -> None:
    expected = [
        {"http_route": "/api/items/{id}", "http_response_status_code": "404"},
        {"http_route": "_unmatched", "http_response_status_code": "404"},
        {"http_request_method": "_OTHER", "http_route": "/healthz"},
        {"http_route": "/api/stats", "http_request_method": "POST",
         "http_response_status_code": "405"},
    ]  # fmt: skip
    before = scrape(service)
    httpx.get(service.url("/api/items/abc"))  # 404 from the view: still the item route
    httpx.get(service.url("/no/such/route"))  # no route matched
    # A method outside the standard nine that HTTP parsers still accept (llhttp, behind
    # uvicorn, refuses unknown tokens such as BREW before the application sees them).
    assert httpx.request("PROPFIND", service.url("/healthz")).status_code == 405
    httpx.post(service.url("/api/stats"))  # 405: the route matched, the method did not

    def added(text: str) -> list[float]:
        return [request_count(text, **ls) - request_count(before, **ls) for ls in expected]

    # Each request counted once under its label set (waiting for the last observations).
    text = metrics_when(
        service.base_url,
        lambda t: min(added(t)) >= 1,
        f"one request counted under each of {expected}",
    )
    assert added(text) == [1, 1, 1, 1], expected
    routes = {labels["http_route"] for _, labels, _ in histogram_samples(text)}
    assert not any("abc" in r or "/no/such" in r for r in routes), routes
    assert all(labels["app"] == service.framework for _, labels, _ in histogram_samples(text))


def test_metrics_endpoint_is_not_observed(service: Any) -> None:
    for _ in range(3):
        scrape(service)
    text = scrape(service)
    assert request_count(text, http_route="/metrics") == 0


def _shape(text: str) -> tuple[str | None, set[str], set[tuple[str, ...]], list[float]]:
    samples = histogram_samples(text)
    names = {name for name, _, _ in samples}
    label_names = {tuple(sorted(k for k in labels if k != "le")) for _, labels, _ in samples}
    buckets = sorted(
        {float(labels["le"]) for name, labels, _ in samples if name == HISTOGRAM + "_bucket"}
    )
    return histogram_help(text), names, label_names, buckets


def test_both_services_expose_identical_names_labels_and_buckets(live_services: Any) -> None:
    shapes = {}
    for framework in FRAMEWORKS:
        service = live_services.get(framework)
        httpx.get(service.url("/healthz"))  # at least one observed series
        text = metrics_when(
            service.base_url,
            lambda t: request_count(t, http_route="/healthz") > 0,
            "a /healthz request counted",
        )
        shapes[framework] = _shape(text)
    django, fastapi = shapes["django"], shapes["fastapi"]
    assert django == fastapi
    _, names, label_names, buckets = fastapi
    assert names == {HISTOGRAM + suffix for suffix in ("_bucket", "_count", "_sum")}
    assert label_names == {tuple(sorted(LABELS))}
    assert buckets == [*CONTRACT_BUCKETS, float("inf")]
