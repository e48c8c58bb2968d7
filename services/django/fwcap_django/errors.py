"""The contract's one JSON error shape, for DRF views, Django's URL resolver and crashes alike."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from rest_framework import exceptions
from rest_framework.response import Response

# status -> (code, message), fixed by services/CONTRACT.md (5xx ones by its Clarifications).
ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Malformed JSON body"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Request body exceeds 65536 bytes"),
    415: ("unsupported_media_type", "Content-Type must be application/json"),
    422: ("validation_error", "Request validation failed"),
    # nginx's "client closed request": the body ended before its Content-Length. Nothing is
    # processed; the status keeps the client's fault out of the 5xx counts.
    499: ("client_closed_request", "Client closed the request"),
    500: ("internal_error", "Internal server error"),
    502: ("bad_gateway", "Upstream request failed"),
    503: ("unavailable", "Database unavailable"),
}


def error_body(status: int, fields: Iterable[str] = ()) -> dict[str, Any]:
    code, message = ERRORS[status]
    error: dict[str, Any] = {"status": status, "code": code, "message": message}
    if status == 422:
        error["fields"] = sorted(set(fields))
    return {"error": error}


class UpstreamFailed(exceptions.APIException):
    """The upstream stub could not be reached, timed out or answered something unusable."""

    status_code = 502


def _bad_input_names(detail: Any) -> set[str]:
    """Field names of a DRF ValidationError; errors not tied to a field concern the body."""
    if isinstance(detail, dict):
        return {"body" if key == "non_field_errors" else str(key) for key in detail}
    return {"body"}


def status_of(exc: Exception) -> int | None:
    if isinstance(exc, exceptions.ValidationError):
        return 422
    if isinstance(exc, RequestDataTooBig):
        return 413
    if isinstance(exc, UnreadablePostError):  # fwcap_django.body_limit: the body was cut short
        return 499
    if isinstance(exc, Http404 | exceptions.NotFound):
        return 404
    if isinstance(exc, OperationalError | InterfaceError):
        # Connection refused, pool wait timed out, connection lost mid-query: the database is
        # unavailable. Anything else from the database is a bug and stays a 500.
        return 503
    if isinstance(exc, exceptions.APIException) and exc.status_code in ERRORS:
        return exc.status_code  # ParseError 400, MethodNotAllowed 405, 415, UpstreamFailed 502
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every expected failure becomes the contract's error shape.

    Returning None lets the exception propagate to Django, which answers via `server_error`.
    """
    status = status_of(exc)
    if status is None:
        return None
    fields = _bad_input_names(exc.detail) if isinstance(exc, exceptions.ValidationError) else ()
    # DRF adds the Allow header to every APIView response, the 405 included.
    return Response(error_body(status, fields), status=status)


def error_response(status: int) -> JsonResponse:
    # Compact separators, like DRF's JSONRenderer, so every error body looks alike.
    return JsonResponse(
        error_body(status), status=status, json_dumps_params={"separators": (",", ":")}
    )


# Django's handler404/400/500 (set in urls.py): unknown routes and failures outside DRF views.
def not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    return error_response(404)


def bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    return error_response(413 if isinstance(exception, RequestDataTooBig) else 400)


def server_error(request: HttpRequest) -> JsonResponse:
    return error_response(500)
