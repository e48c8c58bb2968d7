"""Small HTTP middleware of our own (the metrics middleware lives in fwcap_django.metrics).

Each runs under gunicorn (WSGI, sync) and uvicorn (ASGI, the async variant): sync- and
async-capable in Django's pattern (`HybridMiddleware`), so the async views are never wrapped
in a thread for the middleware's sake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from fwcap_django.errors import error_response

GetResponse = Callable[[HttpRequest], Any]


class HybridMiddleware:
    """Django's sync-and-async middleware: `before` may answer instead of the view, `after`
    sees the response; both plain functions, so one body serves both modes."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        early = self.before(request)
        if early is not None:
            return early
        return self.after(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        early = self.before(request)
        if early is not None:
            return early
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return self.after(request, await response)

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        return response


class ResponseFramingMiddleware(HybridMiddleware):
    """Content-Length on every non-streaming response, and no body for HEAD.

    Django leaves both to the server: without a length gunicorn chunk-encodes each small JSON
    body, and it logs a warning for every HEAD response that carries one. CommonMiddleware
    would set the length, but its Host check turns a malformed Host header into a 400 and
    APPEND_SLASH is off anyway, so it is not used.
    """

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.streaming:
            return response
        content: bytes = response.content  # type: ignore[attr-defined]
        if "Content-Length" not in response:
            response["Content-Length"] = str(len(content))
        if request.method == "HEAD":
            response.content = b""  # type: ignore[attr-defined] # the length stays the GET's
        return response


class ExactPathMiddleware(HybridMiddleware):
    """Paths are exact: an encoded slash (`/api/items%2f1`) is not a segment break, so a 404.

    gunicorn and uvicorn percent-decode the path, which would route `/api/items%2f1` to item 1;
    the raw request target (gunicorn's RAW_URI, the ASGI scope's raw_path) still has what the
    client sent. After the metrics middleware, so the 404 is recorded under `_unmatched` like
    any path no route serves.
    """

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        scope = getattr(request, "scope", None)  # an ASGIRequest
        if scope is not None:
            raw_path = bytes(scope.get("raw_path") or b"").decode("latin-1")
        else:
            raw_path = request.META.get("RAW_URI", "").partition("?")[0]
        return error_response(404) if "%2f" in raw_path.lower() else None
