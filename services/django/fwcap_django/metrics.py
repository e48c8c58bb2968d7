"""The metric contract: one request-duration histogram, summed over gunicorn's worker processes.

prometheus_client runs in multiprocess mode: the launcher sets PROMETHEUS_MULTIPROC_DIR (to an
emptied directory) before gunicorn starts, each worker writes its own mmap files there, /metrics
merges them all, and gunicorn.conf.py's child_exit hook marks dead workers.
"""

from __future__ import annotations

import glob
import json
import os
import re
import struct
import time
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import Resolver404, ResolverMatch, resolve
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from rest_framework.request import Request
from rest_framework.views import APIView

from fwcap_django.middleware import HybridMiddleware

APP_LABEL = (
    "django" if settings.SERVICE_VARIANT == "idiomatic" else f"django-{settings.SERVICE_VARIANT}"
)
# Kept equal to services/fastapi's copy by a test, not by a shared import: each service is a
# standalone container.
BUCKETS_SECONDS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.06, 0.07, 0.075, 0.08, 0.09, 0.1, 0.11, 0.125,
    0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
METRICS_ROUTE = "/metrics"
UNMATCHED = "_unmatched"

REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests.",
    ["app", "http_request_method", "http_route", "http_response_status_code"],
    buckets=BUCKETS_SECONDS,
)

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


@lru_cache(maxsize=64)
def route_template(route: str) -> str:
    """Django's matched route, `api/items/<str:id>`, in the contract's form, `/api/items/{id}`."""
    return "/" + _CONVERTER.sub(r"{\1}", route)


def route_label(match: ResolverMatch | None) -> str:
    return route_template(match.route) if match is not None else UNMATCHED


class RequestMetricsMiddleware(HybridMiddleware):
    """First in MIDDLEWARE, so it times everything Django does for the request.

    The route comes from the resolver match, which Django also sets when the view answers 405
    or raises 404 for a missing row; an unknown path has none and is labelled `_unmatched`.
    """

    def before(self, request: HttpRequest) -> None:
        request.metrics_start = time.perf_counter()  # type: ignore[attr-defined]

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        elapsed_s = time.perf_counter() - request.metrics_start  # type: ignore[attr-defined]
        route = route_label(request.resolver_match)
        if route != METRICS_ROUTE:
            method = request.method or ""
            REQUEST_DURATION.labels(
                APP_LABEL,
                method if method in STANDARD_METHODS else "_OTHER",
                route,
                str(response.status_code),
            ).observe(elapsed_s)
        return response


def observe_unfinished_body(method: str, path: str, elapsed_s: float) -> None:
    """A request whose body missed the read deadline: closed unanswered by the buffering worker
    before Django saw it, recorded as the client's 499 - as uvicorn's side records it when the
    application sees the disconnect."""
    try:
        match: ResolverMatch | None = resolve(path)
    except Resolver404:
        match = None
    route = route_label(match)
    if route != METRICS_ROUTE:
        REQUEST_DURATION.labels(
            APP_LABEL, method if method in STANDARD_METHODS else "_OTHER", route, "499"
        ).observe(elapsed_s)


class MetricsView(APIView):
    """Prometheus text exposition merged over every worker's files (not observed itself)."""

    http_method_names = ["get", "head"]

    def get(self, request: Request) -> HttpResponse:
        registry = CollectorRegistry()
        SettledFilesCollector(registry)
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


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
