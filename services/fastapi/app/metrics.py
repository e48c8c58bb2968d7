"""The metric contract: one histogram, recorded by a pure ASGI middleware, summed over workers.

prometheus_client runs in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by the launcher before
any worker imports it): every worker writes its own mmap file and /metrics merges them all.
"""

from __future__ import annotations

import glob
import json
import os
import struct
import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import READ_METHODS

# Kept in sync with services/django by a test, not by a shared import: each service is a
# standalone container.
BUCKETS_SECONDS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.06,
    0.07,
    0.075,
    0.08,
    0.09,
    0.1,
    0.11,
    0.125,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
)
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
METRICS_PATH = "/metrics"
UNMATCHED = "_unmatched"

REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests.",
    ["app", "http_request_method", "http_route", "http_response_status_code"],
    buckets=BUCKETS_SECONDS,
)


class MetricsMiddleware:
    """Times every HTTP request except /metrics, labelled with the matched route's template.

    Pure ASGI rather than BaseHTTPMiddleware: no extra task and no response re-streaming per
    request, which keeps the overhead inside the contract's 5% budget.
    """

    def __init__(self, app: ASGIApp, app_label: str) -> None:
        self.app = app
        self.app_label = app_label
        # labels() validates and locks on every call (~3 us, a measurable share of a 200 us
        # request); the label sets are few and bounded (methods x routes x statuses), so the
        # children are cached.
        self._children: dict[tuple[str, str, int], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        status = 500  # if the app raises before answering, the server answers 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            elapsed_s = time.perf_counter() - start
            method = scope["method"]
            # The router stores the matched route (also the partial match behind a 405) in the
            # scope it was handed, which is this very dict.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            key = (method, route, status)
            child = self._children.get(key)
            if child is None:
                child = REQUEST_DURATION.labels(
                    self.app_label,
                    method if method in STANDARD_METHODS else "_OTHER",
                    route,
                    str(status),
                )
                self._children[key] = child
            child.observe(elapsed_s)


router = APIRouter()


# A plain def: reading every worker's metric files is blocking file I/O, so it belongs in
# FastAPI's threadpool, not on the event loop.
@router.api_route(METRICS_PATH, include_in_schema=False, methods=READ_METHODS)
def metrics() -> Response:
    registry = CollectorRegistry()
    SettledFilesCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class SettledFilesCollector(MultiProcessCollector):
    """The multiprocess collector, minus metric files a worker is still creating.

    A worker creates its file empty and then sizes it; a scrape landing in between (typically
    while workers start) made prometheus_client raise "unpack_from requires a buffer of at least
    4 bytes" and /metrics answer 500. Such a file holds no observation yet, so it is skipped; the
    next scrape reads it whole.
    """

    def collect(self):  # type: ignore[no-untyped-def]
        files = sorted(glob.glob(os.path.join(self._path, "*.db")))
        return self.merge([f for f in files if _settled(f)], accumulate=True)


def _settled(path: str) -> bool:
    try:
        for key, _value, _timestamp, _pos in MmapedDict.read_all_values_from_file(path):
            json.loads(key)
    # OSError: gone (a dead worker's file); struct.error: empty; RuntimeError: a length past the
    # used size; ValueError: a key cut short (JSON or UTF-8).
    except (OSError, struct.error, RuntimeError, ValueError):
        return False
    return True
