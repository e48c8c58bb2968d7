"""Small HTTP middleware of our own (the metrics middleware lives in fwcap_django.metrics)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from fwcap_django.errors import error_response


class ResponseFramingMiddleware:
    """Content-Length on every non-streaming response, and no body for HEAD.

    Django leaves both to the server: without a length gunicorn chunk-encodes each small JSON
    body, and it logs a warning for every HEAD response that carries one. CommonMiddleware
    would set the length, but its Host check turns a malformed Host header into a 400 and
    APPEND_SLASH is off anyway, so it is not used.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.streaming:
            return response
        content: bytes = response.content  # type: ignore[attr-defined]
        if "Content-Length" not in response:
            response["Content-Length"] = str(len(content))
        if request.method == "HEAD":
            response.content = b""  # type: ignore[attr-defined] # the length stays the GET's
        return response


class ExactPathMiddleware:
    """Paths are exact: an encoded slash (`/api/items%2f1`) is not a segment break, so a 404.

    gunicorn percent-decodes PATH_INFO, which would route `/api/items%2f1` to item 1; the raw
    request target (RAW_URI) still has what the client sent. After the metrics middleware, so
    the 404 is recorded under `_unmatched` like any path no route serves.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        raw_path = request.META.get("RAW_URI", "").partition("?")[0]
        if "%2f" in raw_path.lower():
            return error_response(404)
        return self.get_response(request)
