"""A figure and how it was derived: value, unit, formula over named inputs, and its source.

Every number the model publishes is a Figure, so results.json can say, for each one, which
inputs went in, which formula combined them and where any constant comes from. The formula is
a small arithmetic language (docs/capacity-model.md, "Derivations") that a reader, or a test,
can evaluate with the recorded inputs alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

InputValue = int | float | str | bool | list[float] | list[str] | None


@dataclass(frozen=True)
class Figure:
    """One published number. `value` is None only with a `reason` ("no answer" is a value)."""

    kind: str
    value: float | int | None
    unit: str
    formula: str
    inputs: Mapping[str, InputValue] = field(default_factory=dict)
    source: str = ""
    explanation: str = ""
    reason: str | None = None

    @classmethod
    def undefined(cls, kind: str, unit: str, reason: str) -> Figure:
        return cls(kind=kind, value=None, unit=unit, formula="", reason=reason)

    @property
    def defined(self) -> bool:
        return self.value is not None

    def number(self) -> float:
        """The value, for code that has already checked `defined`."""
        if self.value is None:
            raise ValueError(f"{self.kind} is undefined: {self.reason}")
        return float(self.value)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "value": self.value,
            "unit": self.unit,
            "formula": self.formula,
            "inputs": dict(self.inputs),
            "source": self.source,
        }
        if self.explanation:
            out["explanation"] = self.explanation
        if self.reason is not None:
            out["reason"] = self.reason
        return out
