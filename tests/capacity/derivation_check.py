"""Recompute every figure of a results.json with the model's one formula evaluator.

The model builds its figures with `capacity.model.derivation.derive`, which evaluates each
formula over its inputs; here the same evaluator runs over what results.json recorded, so a
figure whose value, formula and inputs were written apart (or changed after writing) fails.
The comparison is exact: JSON keeps a float's every digit, and the recorded value is the
formula's value, not a separate computation that agrees to some tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from capacity.model.derivation import evaluate

__all__ = ["evaluate", "figures", "mismatches"]


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
        if recomputed != figure["value"]:
            problems.append(
                f"{where}: {figure['formula']} = {recomputed}, recorded {figure['value']}"
            )
    return problems
