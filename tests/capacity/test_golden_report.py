"""The same measurements give the same results.json, figure for figure.

Two committed inputs: tests/capacity/synthetic.py's run (data/measurements.jsonl) and a real
`make report` run on a 2-core machine (data/real-run/, with its platform.json). Their
results.json, as this kit writes them, are committed in data/golden/; a refactoring that
changes any figure, label or warning fails here. Only `generated_at` and the absolute paths of
the inputs may differ between machines and are left out.

To accept a deliberate change of output: FWCAP_UPDATE_GOLDEN=1 pytest this file, and say in
the commit which figures moved and why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from capacity.model.capacity_at_slo import Slo
from capacity.report import build_report

DATA = Path(__file__).with_name("data")
GOLDEN = DATA / "golden"
# The synthetic run has no platform.json: give one, so the report does not describe this machine.
SYNTHETIC_PLATFORM = {"os": "Linux", "machine": "x86_64", "cpu_count": 2, "target": "local"}

CASES = {
    "synthetic": (DATA / "measurements.jsonl", SYNTHETIC_PLATFORM),
    "real-run": (DATA / "real-run" / "measurements.jsonl", None),
}


def _comparable(results: dict[str, Any]) -> dict[str, Any]:
    out = dict(results)
    out.pop("generated_at")
    inputs = dict(out["inputs"])
    for key in ("measurements_file", "catalog"):
        inputs[key] = Path(inputs[key]).name
    out["inputs"] = inputs
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_results_json_equals_the_committed_golden_file(case: str, tmp_path: Path) -> None:
    measurements, platform = CASES[case]
    out = build_report(measurements, tmp_path / "report", slo=Slo(), platform=platform)
    got = _comparable(json.loads((out / "results.json").read_text(encoding="utf-8")))
    golden = GOLDEN / f"{case}.results.json"
    if os.environ.get("FWCAP_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert got == expected
    # Not vacuous: the document holds the figures a user reads.
    assert got["series"] and got["costs"] and got["inputs"]["headline_scenario"] == "mixed"
