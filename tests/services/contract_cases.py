"""The contract suite's table: one request and its exact expected answer per row.

Shared by test_contract.py (each row against each live service) and test_compare.py (each row
against both services, answers compared with each other). Expected bodies come from
services/CONTRACT.md and its seed formulas, never from a service's own output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.services.live_support import cpu_result, error, seeded_item

JSON = {"Content-Type": "application/json"}
ANY_BODY = object()  # the body is checked elsewhere (or is volatile, like /metrics)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def send(self, base_url: str, client: httpx.Client | None = None) -> httpx.Response:
        send = client.request if client is not None else httpx.request
        return send(
            self.method, base_url + self.path, content=self.body, headers=dict(self.headers),
            timeout=30.0,
        )  # fmt: skip


@dataclass(frozen=True)
class Case:
    id: str
    call: Call
    status: int
    # The exact JSON body; for a 201 the body without its volatile `id`.
    body: Any = ANY_BODY


def get(path: str) -> Call:
    return Call("GET", path)


def post_json(payload: Any, headers: Mapping[str, str] = JSON) -> Call:
    return Call("POST", "/api/items", json.dumps(payload).encode(), headers)


def post_raw(body: bytes, headers: Mapping[str, str] = JSON) -> Call:
    return Call("POST", "/api/items", body, headers)


def page(ids: list[int], limit: int = 20, offset: int = 0) -> dict[str, Any]:
    return {"items": [seeded_item(i) for i in ids], "limit": limit, "offset": offset}


def created(name: str, category: str, price: str) -> dict[str, Any]:
    return {"name": name, "category": category, "price": price}


GOOD = {"name": "widget", "price": "12.50", "category": "category-03"}


def body_of_exactly(size: int) -> bytes:
    """A valid JSON object of exactly `size` bytes whose only fault is its long name."""
    empty = json.dumps({**GOOD, "name": ""}).encode()
    body = json.dumps({**GOOD, "name": "x" * (size - len(empty))}).encode()
    assert len(body) == size
    return body


MAX_ID = 2**63 - 1

CASES: list[Case] = [
    # --- health ---------------------------------------------------------------------------
    Case("healthz", get("/healthz"), 200, {"status": "ok"}),
    Case("readyz", get("/readyz"), 200, {"status": "ready"}),
    Case("head-healthz", Call("HEAD", "/healthz"), 200),
    # --- one item -------------------------------------------------------------------------
    Case("item-first", get("/api/items/1"), 200, seeded_item(1)),
    Case("item-last-seeded", get("/api/items/10000"), 200, seeded_item(10000)),
    Case("item-leading-zeros", get("/api/items/007"), 200, seeded_item(7)),
    Case("item-zero", get("/api/items/0"), 404, error(404)),
    Case("item-negative", get("/api/items/-1"), 404, error(404)),
    Case("item-not-a-number", get("/api/items/abc"), 404, error(404)),
    Case("item-decimal", get("/api/items/1.0"), 404, error(404)),
    Case("item-missing-row", get(f"/api/items/{MAX_ID}"), 404, error(404)),
    Case("item-above-bigint", get(f"/api/items/{MAX_ID + 1}"), 404, error(404)),
    # Past Python's 4300-digit int() limit (FastAPI answered 500) and under both request-line
    # limits (8190 bytes).
    Case("item-5000-digits", get("/api/items/" + "9" * 5000), 404, error(404)),
    # An encoded slash is not a segment break: both served item 1 here.
    Case("item-encoded-slash", get("/api/items%2f1"), 404, error(404)),
    Case("item-encoded-slash-upper", get("/api/items%2F1"), 404, error(404)),
    # --- pages ----------------------------------------------------------------------------
    Case("page-default", get("/api/items"), 200, page(list(range(1, 21)))),
    Case(
        "page-limit-offset",
        get("/api/items?limit=3&offset=9997"),
        200,
        page([9998, 9999, 10000], limit=3, offset=9997),
    ),
    Case("page-limit-100", get("/api/items?limit=100"), 200, page(list(range(1, 101)), limit=100)),
    Case(
        "page-category",
        get("/api/items?category=category-07&limit=3"),
        200,
        page([7, 57, 107], limit=3),
    ),
    Case(
        "page-category-offset",
        get("/api/items?category=category-50&limit=2&offset=1"),
        200,
        page([100, 150], limit=2, offset=1),
    ),
    Case("page-unknown-category", get("/api/items?category=nope"), 200, page([])),
    Case("page-empty-category", get("/api/items?category="), 200, page([])),
    Case("page-nul-category", get("/api/items?category=a%00b"), 200, page([])),
    Case("page-offset-max", get("/api/items?offset=1000000"), 200, page([], offset=1000000)),
    Case(
        "page-unknown-param-ignored", get("/api/items?limit=1&colour=red"), 200, page([1], limit=1)
    ),
    # Django's 1,000-field guard answered 400 with a traceback; unknown parameters are ignored.
    Case(
        "page-1100-unknown-params",
        get("/api/items?" + "x&" * 1100 + "limit=1"),
        200,
        page([1], limit=1),
    ),
    Case("page-limit-zero", get("/api/items?limit=0"), 422, error(422, ["limit"])),
    Case("page-limit-101", get("/api/items?limit=101"), 422, error(422, ["limit"])),
    Case("page-limit-text", get("/api/items?limit=abc"), 422, error(422, ["limit"])),
    Case("page-limit-decimal", get("/api/items?limit=5.0"), 422, error(422, ["limit"])),
    Case("page-limit-empty", get("/api/items?limit="), 422, error(422, ["limit"])),
    Case("page-limit-newline", get("/api/items?limit=5%0A"), 422, error(422, ["limit"])),
    Case("page-limit-spaces", get("/api/items?limit=%205"), 422, error(422, ["limit"])),
    Case("page-offset-negative", get("/api/items?offset=-1"), 422, error(422, ["offset"])),
    Case("page-offset-too-big", get("/api/items?offset=1000001"), 422, error(422, ["offset"])),
    Case("page-both-bad", get("/api/items?offset=x&limit=0"), 422, error(422, ["limit", "offset"])),
    # --- create ---------------------------------------------------------------------------
    Case("create", post_json(GOOD), 201, created("widget", "category-03", "12.50")),
    Case(
        "create-price-number",
        post_json({**GOOD, "price": 3}),
        201,
        created("widget", "category-03", "3.00"),
    ),
    Case(
        "create-price-float",
        post_json({**GOOD, "price": 0.5}),
        201,
        created("widget", "category-03", "0.50"),
    ),
    Case(
        "create-price-exponent",
        post_json({**GOOD, "price": "1e2"}),
        201,
        created("widget", "category-03", "100.00"),
    ),
    Case(
        "create-price-max",
        post_json({**GOOD, "price": "99999999.99"}),
        201,
        created("widget", "category-03", "99999999.99"),
    ),
    Case(
        "create-price-negative-zero",
        post_json({**GOOD, "price": "-0"}),
        201,
        created("widget", "category-03", "0.00"),
    ),
    Case(
        "create-name-200",
        post_json({**GOOD, "name": "n" * 200}),
        201,
        created("n" * 200, "category-03", "12.50"),
    ),
    Case(
        "create-name-untrimmed",
        post_json({**GOOD, "name": "  spaced  "}),
        201,
        created("  spaced  ", "category-03", "12.50"),
    ),
    Case(
        "create-name-unicode",
        post_json({**GOOD, "name": "café ☕"}),
        201,
        created("café ☕", "category-03", "12.50"),
    ),
    Case(
        "create-extra-field-ignored",
        post_json({**GOOD, "colour": "red"}),
        201,
        created("widget", "category-03", "12.50"),
    ),
    Case(
        "create-charset-param",
        post_json(GOOD, {"Content-Type": "Application/JSON; charset=utf-8"}),
        201,
        created("widget", "category-03", "12.50"),
    ),
    Case("create-empty-object", post_json({}), 422, error(422, ["category", "name", "price"])),
    Case("create-name-empty", post_json({**GOOD, "name": ""}), 422, error(422, ["name"])),
    Case("create-name-201", post_json({**GOOD, "name": "n" * 201}), 422, error(422, ["name"])),
    Case("create-name-number", post_json({**GOOD, "name": 123}), 422, error(422, ["name"])),
    Case("create-name-null", post_json({**GOOD, "name": None}), 422, error(422, ["name"])),
    Case("create-name-nul-char", post_json({**GOOD, "name": "a\x00b"}), 422, error(422, ["name"])),
    Case("create-price-negative", post_json({**GOOD, "price": -1}), 422, error(422, ["price"])),
    Case(
        "create-price-3-decimals", post_json({**GOOD, "price": "1.234"}), 422, error(422, ["price"])
    ),
    Case(
        "create-price-trailing-zero",
        post_json({**GOOD, "price": "1.000"}),
        422,
        error(422, ["price"]),
    ),
    Case(
        "create-price-9-digits", post_json({**GOOD, "price": 123456789}), 422, error(422, ["price"])
    ),
    Case("create-price-text", post_json({**GOOD, "price": "cheap"}), 422, error(422, ["price"])),
    Case("create-price-bool", post_json({**GOOD, "price": True}), 422, error(422, ["price"])),
    Case(
        "create-price-nan-string", post_json({**GOOD, "price": "NaN"}), 422, error(422, ["price"])
    ),
    Case(
        "create-price-infinity-string",
        post_json({**GOOD, "price": "Infinity"}),
        422,
        error(422, ["price"]),
    ),
    Case("create-price-list", post_json({**GOOD, "price": [1]}), 422, error(422, ["price"])),
    Case(
        "create-unknown-category",
        post_json({**GOOD, "category": "nope"}),
        422,
        error(422, ["category"]),
    ),
    Case(
        "create-category-number", post_json({**GOOD, "category": 3}), 422, error(422, ["category"])
    ),
    Case(
        "create-all-bad",
        post_json({"name": "", "price": "-5", "category": "nope"}),
        422,
        error(422, ["category", "name", "price"]),
    ),
    Case("create-array-body", post_json([GOOD]), 422, error(422, ["body"])),
    Case("create-string-body", post_json("widget"), 422, error(422, ["body"])),
    Case("create-null-body", post_json(None), 422, error(422, ["body"])),
    Case("create-malformed", post_raw(b'{"name": "widget",'), 400, error(400)),
    Case("create-empty-body", post_raw(b""), 400, error(400)),
    Case("create-deep-nesting", post_raw(b"[" * 60000), 400, error(400)),
    Case(
        "create-nan-token",
        post_raw(b'{"name": "w", "price": NaN, "category": "category-01"}'),
        400,
        error(400),
    ),
    Case("create-invalid-utf8", post_raw(b'{"name": "\xff\xfe", "price": 1}'), 400, error(400)),
    Case(
        "create-text-plain",
        post_raw(json.dumps(GOOD).encode(), {"Content-Type": "text/plain"}),
        415,
        error(415),
    ),
    Case("create-no-content-type", post_raw(json.dumps(GOOD).encode(), {}), 415, error(415)),
    Case(
        "create-form",
        post_raw(
            b"name=w&price=1&category=category-01",
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        415,
        error(415),
    ),
    Case("create-too-large", post_json({**GOOD, "name": "x" * 70000}), 413, error(413)),
    Case("create-exactly-limit", post_raw(body_of_exactly(65536)), 422, error(422, ["name"])),
    Case(
        "create-415-before-413",
        post_raw(b"x" * 70000, {"Content-Type": "text/plain"}),
        415,
        error(415),
    ),
    # --- stats (numbers are checked against raw SQL in test_contract.py) ------------------
    Case("stats", get("/api/stats"), 200),
    # --- outbound I/O ---------------------------------------------------------------------
    Case("upstream-default", get("/api/upstream"), 200, {"upstream": {"delay_ms": 0}}),
    Case("upstream-delay", get("/api/upstream?delay_ms=25"), 200, {"upstream": {"delay_ms": 25}}),
    Case("upstream-too-long", get("/api/upstream?delay_ms=2001"), 422, error(422, ["delay_ms"])),
    Case("upstream-negative", get("/api/upstream?delay_ms=-1"), 422, error(422, ["delay_ms"])),
    Case("upstream-text", get("/api/upstream?delay_ms=soon"), 422, error(422, ["delay_ms"])),
    # --- CPU ------------------------------------------------------------------------------
    Case("cpu-default", get("/api/cpu"), 200, {"n": 1000, "result": cpu_result(1000)}),
    Case("cpu-one", get("/api/cpu?n=1"), 200, {"n": 1, "result": cpu_result(1)}),
    Case("cpu-max", get("/api/cpu?n=100000"), 200, {"n": 100000, "result": cpu_result(100000)}),
    Case("cpu-zero", get("/api/cpu?n=0"), 422, error(422, ["n"])),
    Case("cpu-too-big", get("/api/cpu?n=100001"), 422, error(422, ["n"])),
    Case("cpu-text", get("/api/cpu?n=many"), 422, error(422, ["n"])),
    Case("cpu-repeated-last-wins", get("/api/cpu?n=0&n=2"), 200, {"n": 2, "result": cpu_result(2)}),
    # --- metrics --------------------------------------------------------------------------
    Case("metrics", get("/metrics"), 200),
    # --- routing --------------------------------------------------------------------------
    Case("unknown-route", get("/nope"), 404, error(404)),
    Case("unknown-route-delete", Call("DELETE", "/nope"), 404, error(404)),
    Case("api-root", get("/api"), 404, error(404)),
    Case("trailing-slash", get("/api/items/"), 404, error(404)),
    Case("item-subpath", get("/api/items/1/orders"), 404, error(404)),
    Case("post-healthz", Call("POST", "/healthz"), 405, error(405)),
    Case("delete-item", Call("DELETE", "/api/items/1"), 405, error(405)),
    Case("put-items", Call("PUT", "/api/items", b"{}", JSON), 405, error(405)),
    Case("post-stats", Call("POST", "/api/stats"), 405, error(405)),
    Case("patch-cpu", Call("PATCH", "/api/cpu"), 405, error(405)),
    Case("propfind-healthz", Call("PROPFIND", "/healthz"), 405, error(405)),
    Case("options-items", Call("OPTIONS", "/api/items"), 405, error(405)),
    Case("post-readyz-big-body", Call("POST", "/readyz", b"x" * 70000, JSON), 405, error(405)),
]
