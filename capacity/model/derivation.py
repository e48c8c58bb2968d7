"""A figure and how it was derived: value, unit, formula over named inputs, and its source.

Every number the model publishes is a Figure, so results.json can say, for each one, which
inputs went in, which formula combined them and where any constant comes from. The formula is
a small arithmetic language (docs/capacity-model.md, "Derivations"); `evaluate` is its one
interpreter, and `derive` builds a figure by evaluating its formula over its inputs, so the
number and its explanation cannot disagree. A reader, or a test, can recompute any figure with
its recorded inputs alone. `min` and `max` give a float when any argument is one (Python's
max(0, -0.5) is the int 0, the language's 0.0), so a figure keeps its type whichever side wins.
The model builds every figure with `derive`; the only exception is a node count the packing
algorithm found (capacity.model.cost), recorded as an input named for where it came from.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from capacity.model import rounding
from capacity.numbers import Number

# The annotations only speak to pydantic, which serialises figures into results.json and
# generates its schema (capacity/report/schema.py); the model itself never validates.
InputValue = Number | str | bool | Sequence[Number] | Sequence[str] | None

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Gt: operator.gt,
    ast.Lt: operator.lt,
    ast.GtE: operator.ge,
    ast.LtE: operator.le,
}


def lstsq_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of ys over xs (ordinary least squares, the standard library's)."""
    return statistics.linear_regression(xs, ys).slope


def _promoting(pick: Callable[..., Any]) -> Callable[..., Any]:
    """min or max whose answer is a float when any argument is, as arithmetic's would be.

    Python's max(0, -0.5) is the int 0; the language's is 0.0, so a figure such as
    `max(0, used - baseline)` keeps its type whichever argument wins.
    """

    def chosen(*args: Any) -> Any:
        value = pick(*args)
        candidates = args[0] if len(args) == 1 else args
        if isinstance(value, int) and any(isinstance(c, float) for c in candidates):
            return float(value)
        return value

    return chosen


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": _promoting(min),
    "max": _promoting(max),
    "sum": sum,
    "len": len,
    "lstsq_slope": lstsq_slope,
    "sqrt": math.sqrt,
    "median": statistics.median,
    # The model's own rounding: a value within 1e-12 of an integer is that integer.
    "ceil": rounding.ceil,
    "floor": rounding.floor,
}


def evaluate(formula: str, inputs: Mapping[str, Any]) -> Any:
    """The value of `formula` over `inputs`; anything outside the language is refused.

    The language: numbers, input names, + - * / // %, unary minus, one comparison per
    expression (true counts as 1), parentheses, and the functions min, max, sum, len, floor,
    ceil, sqrt, median and lstsq_slope. min and max of ints and floats give a float.
    """

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in inputs:
                raise KeyError(f"formula {formula!r} uses {node.id!r}, which is not an input")
            return inputs[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            return int(_COMPARE[type(node.ops[0])](walk(node.left), walk(node.comparators[0])))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](*(walk(a) for a in node.args))
        raise ValueError(f"formula {formula!r}: {ast.dump(node)} is outside the language")

    return walk(_parse(formula))


@functools.lru_cache(maxsize=4096)
def _parse(formula: str) -> ast.Expression:
    """Formulas repeat (a report derives tens of thousands of figures from a few hundred
    formulas); parsing each once took a sixth of a report's build. The tree is only read."""
    return ast.parse(formula, mode="eval")


@dataclass(frozen=True)
class Figure:
    """One published number and its derivation. value is null only with a reason."""

    # results.json: exactly these fields; explanation and reason only when set.
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"value": {"type": "null"}}},
            "then": {"required": ["reason"]},
            "else": {"properties": {"formula": {"minLength": 1}}},
        },
    )

    kind: str
    value: Number | None
    unit: str
    formula: str
    inputs: Mapping[str, InputValue]
    source: str
    explanation: Annotated[str, Field(exclude_if=lambda text: not text)] = ""
    reason: Annotated[str | SkipJsonSchema[None], Field(exclude_if=lambda r: r is None)] = None

    def __post_init__(self) -> None:
        # "No answer" is a value with a reason; an answer has its formula.
        if self.value is None and self.reason is None:
            raise ValueError(f"figure {self.kind} has no value and no reason")
        if self.value is not None and not self.formula:
            raise ValueError(f"figure {self.kind} has a value but no formula")

    @classmethod
    def undefined(cls, kind: str, unit: str, reason: str) -> Figure:
        return cls(
            kind=kind, value=None, unit=unit, formula="", inputs={}, source="", reason=reason
        )

    @property
    def defined(self) -> bool:
        return self.value is not None

    def number(self) -> float:
        """The value, for code that has already checked `defined`."""
        if self.value is None:
            raise ValueError(f"{self.kind} is undefined: {self.reason}")
        return float(self.value)


def derive(
    kind: str,
    unit: str,
    formula: str,
    inputs: Mapping[str, InputValue],
    source: str = "",
    explanation: str = "",
) -> Figure:
    """A figure whose value is its formula evaluated over its inputs (and nothing else)."""
    value = evaluate(formula, inputs)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{kind}: formula {formula!r} gives {value!r}, not a number")
    return Figure(kind, value, unit, formula, dict(inputs), source, explanation)
