"""An evaluator for the derivation language of results.json, written apart from the model.

It knows only what docs/capacity-model.md says a formula may contain: numbers, input names,
+ - * / // %, comparisons (true = 1), parentheses, and the functions min, max, floor, ceil
(with a 1e-12 relative tolerance), sum, len, lstsq_slope, sqrt and median. Recomputing a
figure with it uses the figure's recorded inputs and nothing else.
"""

from __future__ import annotations

import ast
import math
import operator
import statistics
from collections.abc import Iterator, Mapping
from typing import Any

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE = {ast.Gt: operator.gt, ast.Lt: operator.lt, ast.GtE: operator.ge, ast.LtE: operator.le}


def _slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    sx, sy = sum(xs), sum(ys)
    sxy = sum(x * y for x, y in zip(xs, ys, strict=True))
    sxx = sum(x * x for x in xs)
    return (n * sxy - sx * sy) / (n * sxx - sx * sx)


_FUNCTIONS: dict[str, Any] = {
    "min": min,
    "max": max,
    "sum": sum,
    "len": len,
    "lstsq_slope": _slope,
    "sqrt": math.sqrt,
    "median": lambda xs: statistics.median(xs),
    "ceil": lambda x: math.ceil(x - abs(x) * 1e-12),
    "floor": lambda x: math.floor(x + abs(x) * 1e-12),
}


def evaluate(formula: str, inputs: Mapping[str, Any]) -> Any:
    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
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

    return walk(ast.parse(formula, mode="eval"))


def figures(tree: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every figure in a results.json tree, with where it sits."""
    if isinstance(tree, dict):
        if {"kind", "value", "formula", "inputs", "unit"} <= tree.keys():
            yield path, tree
            return
        for key, value in tree.items():
            yield from figures(value, f"{path}/{key}")
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from figures(value, f"{path}/{i}")


def mismatches(results: Any) -> list[str]:
    problems = []
    for where, figure in figures(results):
        if figure["value"] is None:
            if not figure.get("reason"):
                problems.append(f"{where}: undefined without a reason")
            continue
        recomputed = evaluate(figure["formula"], figure["inputs"])
        if not math.isclose(recomputed, figure["value"], rel_tol=1e-9, abs_tol=1e-9):
            problems.append(
                f"{where}: {figure['formula']} = {recomputed}, recorded {figure['value']}"
            )
    return problems
