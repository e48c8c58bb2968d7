"""The contract's one JSON error shape, produced by exception handlers for every 4xx (and 5xx)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

# status -> (code, message), fixed by services/CONTRACT.md
ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Malformed JSON body"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Request body exceeds 65536 bytes"),
    415: ("unsupported_media_type", "Content-Type must be application/json"),
    422: ("validation_error", "Request validation failed"),
    # nginx's "client closed request": the body ended before its Content-Length. Nobody reads
    # this answer; the status exists so the metrics do not count the client's fault as a 500.
    499: ("client_closed_request", "Client closed the request"),
    500: ("internal_error", "Internal server error"),
    502: ("bad_gateway", "Upstream request failed"),
    503: ("unavailable", "Database unavailable"),
}


def error_response(
    status: int, fields: Iterable[str] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    code, message = ERRORS.get(status, ("error", "Error"))
    error: dict[str, Any] = {"status": status, "code": code, "message": message}
    if status == 422:
        error["fields"] = sorted(set(fields or ()))
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def bad_input_names(errors: Sequence[Any]) -> set[str]:
    """The input names a list of pydantic/FastAPI errors is about.

    FastAPI locations look like ("query", "limit") or ("body", "price"); a body that is not an
    object fails at ("body",), which the contract names "body".
    """
    names: set[str] = set()
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc and loc[0] in ("query", "path", "body", "header") and len(loc) > 1:
            names.add(str(loc[1]))
        elif loc:
            names.add(str(loc[0]))
    return names


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error_response(exc.status_code, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method any route on this path template serves.

    Starlette's 405 names only the methods of the first route whose path matched, so with GET
    and POST declared as two routes on /api/items its `Allow` would omit POST. The router left
    the partially matched route in the scope; create_app stored each template's methods.
    """
    route = request.scope.get("route")
    by_path: dict[str, set[str]] = request.app.state.methods_by_path
    return ", ".join(sorted(by_path.get(getattr(route, "path", ""), set())))


async def _client_disconnect(request: Request, exc: Exception) -> JSONResponse:
    # The client went away before its body was complete: nothing was processed and nothing
    # can be answered; recorded as 499, a client fault, not a 500 with a traceback.
    return error_response(499)


async def _validation_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, fields=bad_input_names(exc.errors()))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if database_unreachable(exc):
        return error_response(503)
    raise exc  # a real fault: on to the 500 handler below


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(500)


def database_unreachable(exc: BaseException) -> bool:
    """True when `exc` means "no usable database connection", not a bug in a query."""
    if isinstance(exc, sqlalchemy.exc.TimeoutError):  # no pooled connection within the wait
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        # No statement means it failed while connecting: the server turned us away (unknown
        # database, bad password, too many connections, starting up).
        return (
            exc.statement is None
            or exc.connection_invalidated
            or isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError)
        )
    # A refused or timed-out connect can surface unwrapped (TimeoutError is an OSError).
    return isinstance(exc, OSError)


def install_error_handlers(app: FastAPI) -> None:
    # Starlette's HTTPException covers FastAPI's subclass, the router's 404 and 405, and our 413.
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_exception)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    # A database out of reach is a 503 from every endpoint that needs it. Handled inside the
    # middleware stack, so the metrics middleware records the 503 it really was.
    app.add_exception_handler(sqlalchemy.exc.SQLAlchemyError, _database_error)
    app.add_exception_handler(OSError, _database_error)
    # Anything else is a 500 in the same shape (Starlette's ServerErrorMiddleware answers it,
    # then re-raises so the server logs the traceback).
    app.add_exception_handler(Exception, _server_error)
