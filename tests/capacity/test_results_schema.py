"""The results models (capacity/report/schema.py) and the JSON Schema generated from them: the
committed schema is the generated one, results.json reads back into the models unchanged, and
a document that breaks a model's rules is a ReportError naming the field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from capacity.catalog import load_catalog
from capacity.errors import ReportError
from capacity.measurements import read_records
from capacity.model import AnalysisSettings, Slo, analyse, check_claims
from capacity.model.derivation import Figure
from capacity.report.results import build_results
from capacity.report.schema import Platform, Results, figure_json, render_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "capacity" / "schemas" / "results.schema.json"
SCRIPT = REPO / "scripts" / "results_schema.py"
MEASUREMENTS = Path(__file__).with_name("data") / "measurements.jsonl"


def test_the_committed_schema_is_the_one_the_models_generate() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_schema(), (
        "capacity/schemas/results.schema.json is out of date: run `make schemas`"
    )


def test_the_schema_script_checks_and_writes(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
        )

    assert run("--check").returncode == 0
    drifted = tmp_path / "results.schema.json"
    drifted.write_text(render_schema().replace('"minimum": 1', '"minimum": 2'), encoding="utf-8")
    checked = run("--check", "--out", str(drifted))
    assert checked.returncode == 1 and "make schemas" in checked.stdout
    assert run("--out", str(drifted)).returncode == 0
    assert drifted.read_text(encoding="utf-8") == render_schema()


def test_a_figure_has_a_value_with_a_formula_or_a_reason() -> None:
    defined = Figure(kind="k", value=0, unit="pods", formula="a", inputs={"a": 0}, source="s")
    # explanation and reason are left out when empty, as results.json always wrote them
    assert figure_json(defined) == {
        "kind": "k", "value": 0, "unit": "pods", "formula": "a", "inputs": {"a": 0}, "source": "s"
    }  # fmt: skip
    undefined = Figure(kind="k", value=None, unit="", formula="", inputs={}, source="", reason="r")
    assert figure_json(undefined)["reason"] == "r"
    with pytest.raises(ValueError, match="no value and no reason"):
        Figure(kind="k", value=None, unit="", formula="", inputs={}, source="")
    with pytest.raises(ValueError, match="a value but no formula"):
        Figure(kind="k", value=1, unit="", formula="", inputs={}, source="")


def test_numbers_keep_the_type_the_model_computed() -> None:
    inputs = {"n": 3, "x": 3.0, "flag": True, "xs": [1, 2.5], "names": ["a"], "none": None}
    figure = Figure(kind="k", value=2, unit="", formula="n", inputs=inputs, source="")
    assert json.dumps(figure_json(figure), separators=(",", ":")) == (
        '{"kind":"k","value":2,"unit":"","formula":"n","inputs":{"n":3,"x":3.0,"flag":true,'
        '"xs":[1,2.5],"names":["a"],"none":null},"source":""}'
    )


def test_results_json_reads_back_into_the_models_unchanged(report_dir: Path) -> None:
    text = (report_dir / "results.json").read_text(encoding="utf-8")
    results = Results.model_validate_json(text)
    assert results.to_json() == text
    assert results.inputs.slo.percentile == "p95" and results.plots


def test_a_document_that_breaks_its_model_is_a_report_error_naming_the_field() -> None:
    records = read_records(MEASUREMENTS)
    catalog = load_catalog(None)
    analysis = analyse(records, [catalog.node("t3.medium")], AnalysisSettings(slo=Slo()))
    with pytest.raises(ReportError, match="Inputs at measurements_sha256: String should match"):
        build_results(
            analysis,
            check_claims(analysis, "mixed"),
            measurements_path=MEASUREMENTS,
            measurements_sha256="not a digest",
            records=records,
            headline_scenario="mixed",
            catalog_path=catalog.path,
            platform=Platform(source="test", details={}),
        )
