"""`capacity model --placement/--credit-mode/--arm-factor` reach the cost rows of results.json:
each flag changes what it names, and the defaults are what the flags replace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.capacity.test_cli import assert_refused, run

MEASUREMENTS = Path(__file__).parent / "data" / "measurements.jsonl"


def _costs(out: Path, *flags: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    result = run("model", MEASUREMENTS, "--out", out, "--node", "t3.medium", "--node",
                 "t4g.medium", *flags)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))["costs"]
    return {(c["framework"], c["scenario"], c["node_type"]): c for c in rows}


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], Any]:
    return _costs(tmp_path_factory.mktemp("default"))


def test_the_flags_replace_the_defaults_in_every_cost_row(
    tmp_path: Path, defaults: dict[tuple[str, str, str], Any]
) -> None:
    chosen = _costs(tmp_path / "r", "--placement", "first-fit", "--credit-mode", "standard",
                    "--arm-factor", "0.8")  # fmt: skip
    assert chosen.keys() == defaults.keys()
    for key, row in chosen.items():
        before = defaults[key]
        assert before["placement_name"] == "spread" and row["placement_name"] == "first-fit"
        assert row["credit_mode"] == "standard" and before["credit_mode"] == "unlimited"
        assert row["burst_usd_month"]["value"] == 0, "standard mode buys no surplus credits"
        if key[2] == "t4g.medium":  # arm64: CPU per request x 0.8, capacity / 0.8
            assert "0.8" in row["arch_caveat"] and "--arm-factor" in row["arch_caveat"]
            assert "pass --arm-factor" in before["arch_caveat"]
            assert row["pods_needed"]["value"] <= before["pods_needed"]["value"]
        else:
            assert row["arch_caveat"] is None
            assert row["pods_needed"] == before["pods_needed"], "amd64 rows keep their pods"


def test_a_bad_placement_or_factor_is_refused_naming_it(tmp_path: Path) -> None:
    assert_refused(run("model", MEASUREMENTS, "--out", tmp_path / "a", "--placement", "random"),
                   "random", "spread")  # fmt: skip
    assert_refused(run("model", MEASUREMENTS, "--out", tmp_path / "b", "--arm-factor", "-1"),
                   "-1", "ARM factor")  # fmt: skip
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
