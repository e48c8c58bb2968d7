"""The 64 KiB request-body limit, over raw sockets: a correct Content-Length, a lying one and a
chunked body without one (what an HTTP client library refuses to send)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.services.live_support import BODY_LIMIT_BYTES, chunked, error, raw_exchange, request_head

pytestmark = pytest.mark.live

JSON = {"Content-Type": "application/json"}
OVERSIZED = json.dumps(
    {"name": "x" * (BODY_LIMIT_BYTES + 4000), "price": "1.00", "category": "category-01"}
).encode()
SMALL = json.dumps({"name": "chunked", "price": "2.50", "category": "category-02"}).encode()


def post_head(headers: dict[str, str]) -> bytes:
    return request_head("POST", "/api/items", {**JSON, **headers})


def assert_still_serving(service: Any) -> None:
    assert httpx.get(service.url("/healthz")).status_code == 200


def test_correct_content_length_over_the_limit_is_413(service: Any) -> None:
    status, body, _ = raw_exchange(
        service.base_url, post_head({"Content-Length": str(len(OVERSIZED))}), [OVERSIZED]
    )
    assert status == 413
    assert json.loads(body) == error(413)


def test_declared_length_over_the_limit_is_refused_before_the_body_arrives(
    service: Any,
) -> None:
    # Only 10 of the declared bytes are ever sent: the answer must not wait for the rest.
    status, body, _ = raw_exchange(
        service.base_url, post_head({"Content-Length": str(BODY_LIMIT_BYTES + 1)}), [b'{"name": '],
        timeout_s=10,
    )  # fmt: skip
    assert status == 413
    assert json.loads(body) == error(413)


def test_chunked_body_over_the_limit_is_413(service: Any) -> None:
    status, body, _ = raw_exchange(
        service.base_url, post_head({"Transfer-Encoding": "chunked"}), chunked(OVERSIZED)
    )
    assert status == 413
    assert json.loads(body) == error(413)
    assert_still_serving(service)


def test_chunked_body_under_the_limit_is_read(service: Any) -> None:
    # The limit counts bytes; it must not simply refuse or ignore chunked bodies.
    status, body, _ = raw_exchange(
        service.base_url, post_head({"Transfer-Encoding": "chunked"}), chunked(SMALL, 7)
    )
    assert status == 201, body
    assert {k: v for k, v in json.loads(body).items() if k != "id"} == {
        "name": "chunked", "price": "2.50", "category": "category-02"
    }  # fmt: skip


def test_lying_smaller_content_length_never_smuggles_the_body_past_the_limit(
    service: Any,
) -> None:
    """Content-Length: 100 followed by ~68 KiB.

    HTTP/1.1 framing hands the application exactly 100 bytes (truncated JSON, a 400); the
    server then sees the rest as a malformed next request and answers 400 and closes. Which of
    the two answers the client reads first depends on the server; neither may be a 5xx, and
    the oversized body is never accepted.
    """
    status, _, _ = raw_exchange(service.base_url, post_head({"Content-Length": "100"}), [OVERSIZED])
    assert status in (400, 413), status
    assert_still_serving(service)


def test_content_length_with_chunked_encoding_is_refused(service: Any) -> None:
    # Both framings at once is the classic request-smuggling shape: a 4xx, never a 5xx.
    status, _, _ = raw_exchange(
        service.base_url,
        post_head({"Transfer-Encoding": "chunked", "Content-Length": "100"}),
        chunked(OVERSIZED),
    )
    assert 400 <= status < 500, status
    assert_still_serving(service)
