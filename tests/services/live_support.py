"""Helpers for the live-service tests: the seed's expected rows, raw HTTP, /metrics parsing."""

from __future__ import annotations

import hashlib
import http.client
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from capacity.polling import Pending, poll_until

HISTOGRAM = "http_server_request_duration_seconds"
CONTRACT_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.06, 0.07, 0.075, 0.08, 0.09, 0.1, 0.11, 0.125,
    0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
LABELS = ("app", "http_request_method", "http_route", "http_response_status_code")
BODY_LIMIT_BYTES = 65536


# --- the deterministic seed, recomputed from CONTRACT.md's formulas -------------------------


def seeded_item(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "name": f"item-{i:05d}",
        "category": f"category-{(i - 1) % 50 + 1:02d}",
        "price": f"{Decimal((i * 7919) % 100000) / 100:.2f}",
    }


def cpu_result(n: int) -> str:
    digest = hashlib.sha256(b"fwcap").digest()
    for _ in range(n):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


def error(status: int, fields: Iterable[str] | None = None) -> dict[str, Any]:
    code, message = {
        400: ("bad_request", "Malformed JSON body"),
        404: ("not_found", "Not found"),
        405: ("method_not_allowed", "Method not allowed"),
        413: ("payload_too_large", "Request body exceeds 65536 bytes"),
        415: ("unsupported_media_type", "Content-Type must be application/json"),
        422: ("validation_error", "Request validation failed"),
        503: ("unavailable", "Database unavailable"),
    }[status]
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fields is not None:
        body["fields"] = list(fields)
    return {"error": body}


# --- raw HTTP/1.1 over a socket, for what an HTTP client library will not send -------------


def raw_exchange(
    base_url: str, head: bytes, body_parts: Iterable[bytes] = (), timeout_s: float = 10.0
) -> tuple[int, bytes, dict[str, str]]:
    """Send `head` (request line + headers + blank line) then `body_parts`; read one response.

    The server may answer and close before it has read everything we send (that is the point
    of a 413), so a failed send is not an error as long as a response comes back.
    """
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        try:
            sock.sendall(head)
            for part in body_parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return response.status, body, {k.lower(): v for k, v in response.getheaders()}


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body: bytes, chunk_bytes: int = 8192) -> list[bytes]:
    parts = [
        b"%x\r\n" % len(body[i : i + chunk_bytes]) + body[i : i + chunk_bytes] + b"\r\n"
        for i in range(0, len(body), chunk_bytes)
    ]
    return [*parts, b"0\r\n\r\n"]


# --- /metrics ---------------------------------------------------------------------------------


def histogram_help(exposition: str) -> str | None:
    for family in text_string_to_metric_families(exposition):
        if family.name == HISTOGRAM:
            return str(family.documentation)
    return None


def histogram_samples(exposition: str) -> list[tuple[str, dict[str, str], float]]:
    """(sample name, labels, value) of the contract histogram, parsed by prometheus_client."""
    samples = []
    for family in text_string_to_metric_families(exposition):
        if family.name == HISTOGRAM:
            samples.extend((s.name, dict(s.labels), s.value) for s in family.samples)
    return samples


def request_count(exposition: str, **labels: str) -> float:
    """The `_count` of the histogram summed over every series matching `labels`."""
    return sum(
        value
        for name, sample_labels, value in histogram_samples(exposition)
        if name == HISTOGRAM + "_count"
        and all(sample_labels.get(k) == v for k, v in labels.items())
    )


# A request's observation can land after the client has its response: the FastAPI service
# observes in its ASGI middleware once the app has returned, i.e. after the last body chunk went
# out, and its worker may be descheduled in between on a busy machine. A test that counts
# requests therefore waits for the count it needs instead of reading the first scrape.
METRICS_WAIT_S = 30.0


def metrics_when(
    base_url: str, ready: Callable[[str], bool], what: str, timeout_s: float = METRICS_WAIT_S
) -> str:
    """The first /metrics exposition of `base_url` for which `ready` holds.

    Fails after `timeout_s` naming `what` was awaited, with the last scrape's status.
    """

    def check() -> str | Pending:
        response = httpx.get(base_url + "/metrics", timeout=30)
        if response.status_code != 200:
            return Pending(f"/metrics answered {response.status_code}")
        return response.text if ready(response.text) else Pending(f"not yet: {what}")

    return poll_until(
        check,
        timeout_s=timeout_s,
        interval_s=0.1,
        on_timeout=lambda last: AssertionError(
            f"{base_url}/metrics after {timeout_s:.0f}s: {last}"
        ),
    )


def seeded_stats() -> list[dict[str, Any]]:
    """/api/stats right after a seed, from CONTRACT.md's formulas alone."""
    orders_per_item: Counter[int] = Counter((j * 31) % 10000 + 1 for j in range(1, 50001))
    stats = []
    for c in range(1, 51):
        ids = range(c, 10001, 50)  # category_id = (i - 1) % 50 + 1
        prices = [Decimal((i * 7919) % 100000) / 100 for i in ids]
        avg = (sum(prices) / len(prices)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        stats.append({
            "category": f"category-{c:02d}",
            "items": len(prices),
            "min_price": f"{min(prices):.2f}",
            "avg_price": f"{avg:.2f}",
            "max_price": f"{max(prices):.2f}",
            "orders": sum(orders_per_item[i] for i in ids),
        })  # fmt: skip
    return stats
