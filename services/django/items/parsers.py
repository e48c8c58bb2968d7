"""Strict JSON request bodies: the contract's 400 rules, on top of DRF's JSONParser."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _refuse_constant(token: str) -> None:
    raise ValueError(f"{token} is not valid JSON")


class StrictJSONParser(JSONParser):
    """DRF's JSONParser, except that the body is always strict UTF-8 (a charset parameter is
    ignored, a BOM is malformed), an empty body is malformed rather than `{}`, and nesting deep
    enough to exhaust the parser's recursion is a 400 instead of a crash."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return json.loads(stream.read().decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError("Malformed JSON body") from exc
