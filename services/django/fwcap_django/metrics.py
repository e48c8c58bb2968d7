"""The metric contract: one request-duration histogram, summed over gunicorn's worker processes.

prometheus_client runs in multiprocess mode: the launcher sets PROMETHEUS_MULTIPROC_DIR (to an
emptied directory) before gunicorn starts, each worker writes its own mmap files there, /metrics
merges them all, and gunicorn.conf.py's child_exit hook marks dead workers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import lru_cache

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import ResolverMatch
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from rest_framework.request import Request
from rest_framework.views import APIView

APP_LABEL = "django"
# Kept equal to services/fastapi's copy by a test, not by a shared import: each service is a
# standalone container.
BUCKETS_SECONDS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5,
    5.0, 10.0,
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


class RequestMetricsMiddleware:
    """First in MIDDLEWARE, so it times everything Django does for the request.

    The route comes from the resolver match, which Django also sets when the view answers 405
    or raises 404 for a missing row; an unknown path has none and is labelled `_unmatched`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        start = time.perf_counter()
        response = self.get_response(request)
        elapsed_s = time.perf_counter() - start
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


class MetricsView(APIView):
    """Prometheus text exposition merged over every worker's files (not observed itself)."""

    http_method_names = ["get", "head"]

    def get(self, request: Request) -> HttpResponse:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
