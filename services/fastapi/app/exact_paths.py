"""Paths are exact (services/CONTRACT.md): an encoded slash never stands for a segment break.

uvicorn percent-decodes the path before routing, so `/api/items%2f1` would reach the item route
as `/api/items/1`. The raw path still carries what the client sent; one that holds `%2F` names
no route of the contract and is a 404 (labelled `_unmatched`, as no route matched).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import error_response


class ExactPathMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and b"%2f" in scope.get("raw_path", b"").lower():
            await error_response(404)(scope, receive, send)
            return
        await self.app(scope, receive, send)
