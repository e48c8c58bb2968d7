"""Content negotiation for a JSON-only API (the pattern from DRF's content-negotiation docs)."""

from __future__ import annotations

from collections.abc import Sequence

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


def media_type(content_type: str) -> str:
    """`Application/JSON; charset=utf-8` -> `application/json`."""
    return content_type.partition(";")[0].strip().lower()


class JSONOnlyContentNegotiation(BaseContentNegotiation):
    """Always answers JSON whatever the Accept header says (no 406 for a client's taste), and
    takes a body only when its media type is exactly `application/json` (else 415)."""

    def select_parser(self, request: Request, parsers: Sequence[BaseParser]) -> BaseParser | None:
        wanted = media_type(request.content_type)
        return next((parser for parser in parsers if parser.media_type == wanted), None)

    def select_renderer(
        self,
        request: Request,
        renderers: Sequence[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str | None]:
        return renderers[0], renderers[0].media_type
