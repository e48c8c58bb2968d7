"""pydantic's ValidationError as the kit's messages: each problem names the field, the bad value
and what is wrong (validators say what is accepted), so every boundary reports alike."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

_SHOWN = reprlib.Repr(maxstring=80, maxother=80, maxlist=6, maxdict=6, maxlevel=2)


@dataclass(frozen=True)
class Problem:
    """One failed check of a validation."""

    path: str  # dotted location, e.g. `node_types.3.memory`; "" for the whole object
    field: str  # the top-level field (the first part of `path`)
    message: str  # pydantic's message, without its "Value error, " prefix
    value: object  # what was given
    missing: bool  # the field was required and absent

    @property
    def given(self) -> str:
        """` (got 'half')`, or nothing for a missing field."""
        return "" if self.missing else f" (got {_SHOWN.repr(self.value)})"


def problems(error: ValidationError) -> list[Problem]:
    return [
        Problem(
            path=".".join(str(part) for part in item["loc"]),
            field=str(item["loc"][0]) if item["loc"] else "",
            message=str(item["msg"]).removeprefix("Value error, "),
            value=item.get("input"),
            missing=item["type"] == "missing",
        )
        for item in error.errors()
    ]


def describe_validation_error(
    error: ValidationError,
    *,
    sources: Mapping[str, str] | None = None,
    whole: str = "record",
    limit: int | None = None,
) -> str:
    """Every problem (or the first `limit`), `; `-separated.

    Without `sources`: `field 'a.b': <message> (got <value>)`. With `sources` (top-level field
    -> where its value came from, e.g. a CLI flag or a file): `a (--a): <message> (got ...)`.
    `whole` names the object for a problem of no single field.
    """
    found = problems(error)
    shown = found if limit is None else found[:limit]
    parts = []
    for p in shown:
        if sources is not None:
            field = p.field or whole
            label = f"{field} ({sources.get(field, whole)})"
        else:
            label = f"field {p.path!r}" if p.path else whole
        parts.append(f"{label}: {p.message}{p.given}")
    if len(found) > len(shown):
        parts.append(f"and {len(found) - len(shown)} more")
    return "; ".join(parts)
