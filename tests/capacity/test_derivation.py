"""The derivation language: one evaluator builds every derived figure and recomputes it."""

from __future__ import annotations

import pytest

from capacity.model.allocatable import CPU_TIERS_MILLICORES, GKE_MEMORY_TIERS_MIB, tier_terms
from capacity.model.derivation import derive, evaluate


@pytest.mark.parametrize(
    ("formula", "inputs", "value"),
    [
        ("a + b * 2", {"a": 1, "b": 3}, 7),
        ("a // 64 + a % 64", {"a": 130}, 4),
        ("-a / 4", {"a": 2}, -0.5),
        ("(a > 3) * 10 + (a <= 3) * 20", {"a": 4}, 10),
        ("min(a, 5) + max(0, a - 9)", {"a": 7}, 5),
        ("sum(xs) / len(xs)", {"xs": [1, 2, 6]}, 3),
        ("median(xs)", {"xs": [5.0, 1.0, 3.0]}, 3.0),
        ("lstsq_slope(xs, ys)", {"xs": [1, 2, 3], "ys": [2, 4, 6]}, 2.0),
        ("lstsq_slope(xs, ys)", {"xs": [1, 2, 3, 4], "ys": [1, 3, 2, 5]}, 1.1),
        ("sqrt(a)", {"a": 9}, 3.0),
        # floor and ceil treat a value within 1e-12 of an integer as that integer.
        ("ceil(1000 / (125 * 0.8))", {}, 10),
        ("floor(0.1 * 3 * 10)", {}, 3),
    ],
)
def test_formulas_evaluate_over_their_inputs(formula: str, inputs: dict, value: float) -> None:  # type: ignore[type-arg]
    assert evaluate(formula, inputs) == pytest.approx(value)


@pytest.mark.parametrize(
    ("formula", "error"),
    [
        ("a + b", KeyError),  # b is not an input
        ("__import__('os')", ValueError),
        ("a ** 2", ValueError),
        ("a.real", ValueError),
        ("1 < a < 3", ValueError),
        ("round(a)", ValueError),
    ],
)
def test_anything_outside_the_language_is_refused(formula: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        evaluate(formula, {"a": 2})


@pytest.mark.parametrize(
    ("formula", "value"),
    [
        ("max(0, a - 1)", 0.0),  # Python's max would give the int 0
        ("min(3, a)", 0.5),
        ("max(xs)", 2.0),
        ("min(1, 2)", 1),
        ("max(1, a > 0)", 1),
    ],
)
def test_min_and_max_give_a_float_when_any_argument_is_one(formula: str, value: float) -> None:
    got = evaluate(formula, {"a": 0.5, "xs": [1, 2.0]})
    assert got == value and type(got) is type(value)


def test_a_derived_figure_holds_its_formulas_value() -> None:
    figure = derive("x", "pods", "max(0, a - b)", {"a": 3, "b": 5}, "a source")
    assert figure.value == 0 and figure.formula == "max(0, a - b)" and figure.source == "a source"


def test_a_formula_that_gives_no_number_is_refused() -> None:
    with pytest.raises(TypeError, match="not a number"):
        derive("x", "pods", "xs", {"xs": [1.0]})


def test_tier_tables_read_as_the_published_brackets() -> None:
    assert tier_terms("cpu_millicores", CPU_TIERS_MILLICORES) == [
        "0.06 * min(cpu_millicores, 1000)",
        "0.01 * max(0, min(cpu_millicores, 2000) - 1000)",
        "0.005 * max(0, min(cpu_millicores, 4000) - 2000)",
        "0.0025 * max(0, cpu_millicores - 4000)",
    ]
    assert (
        tier_terms("nominal_mib", GKE_MEMORY_TIERS_MIB)[-1] == "0.02 * max(0, nominal_mib - 128000)"
    )
