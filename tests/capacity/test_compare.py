"""`capacity compare`: the verdict rule table-tested, and the command run as CI runs it on a
real report's results.json (the golden real-run report), itself and with capacities lowered."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from capacity.report.compare import Capacity, compare, judge
from capacity.report.schema import Results
from tests.capacity.test_cli import assert_refused, run

GOLDEN = Path(__file__).parent / "data" / "golden" / "real-run.results.json"


def _golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    data["generated_at"] = "2026-12-07T00:00:00Z"  # the one field the golden file leaves out
    return data


def _scaled(data: dict[str, Any], framework: str, factor: float) -> dict[str, Any]:
    for s in data["series"]:
        if s["framework"] == framework:
            s["capacity_point_rps"] *= factor
            s["capacity_ci95_rps"] = [v * factor for v in s["capacity_ci95_rps"]]
    return data


def _write(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("base", "new", "verdict"),
    [
        # within the threshold: no verdict, however narrow the intervals
        (Capacity(100, (99, 101)), Capacity(96, (95, 97)), "no significant change"),
        # beyond it, intervals apart
        (Capacity(100, (95, 105)), Capacity(80, (76, 84)), "regression"),
        (Capacity(100, (95, 105)), Capacity(120, (114, 126)), "improvement"),
        # beyond it, but the intervals overlap: the runs cannot tell
        (Capacity(100, (80, 120)), Capacity(85, (70, 100)), "no significant change"),
        (Capacity(100, (90, 110)), Capacity(115, (105, 125)), "no significant change"),
        # no interval on one side: the point decides, and the reason says so
        (Capacity(100, None), Capacity(80, (76, 84)), "regression"),
        (Capacity(None, None), Capacity(80, (76, 84)), "not comparable"),
    ],
)
def test_a_change_counts_beyond_the_threshold_only_when_the_intervals_are_apart(
    base: Capacity, new: Capacity, verdict: str
) -> None:
    assert judge(base, new, 0.05)[0] == verdict


def test_a_series_in_one_report_only_is_listed_not_judged() -> None:
    base = _golden()
    new = _golden()
    new["series"] = [s for s in new["series"] if s["scenario"] != "upstream"]
    rows = compare(Results.model_validate(base), Results.model_validate(new))
    lonely = [r for r in rows if r.key.scenario == "upstream"]
    assert {r.key.framework for r in lonely} == {"django", "fastapi"}
    assert all(r.verdict == "not comparable" and "base report" in r.why for r in lonely)


def test_a_report_against_itself_exits_0(tmp_path: Path) -> None:
    report = _write(tmp_path / "a", _golden())
    result = run("compare", report, report / "results.json")
    assert result.returncode == 0, result.stderr
    assert "No regression" in result.stdout
    assert result.stdout.count("no significant change") == len(_golden()["series"])


def test_fastapi_30_percent_slower_exits_1_naming_it_with_junit_and_markdown(
    tmp_path: Path,
) -> None:
    base = _write(tmp_path / "base", _golden())
    new = _write(tmp_path / "new", _scaled(_golden(), "fastapi", 0.7))
    junit_file, md_file = tmp_path / "compare.xml", tmp_path / "compare.md"
    result = run("compare", base, new, "--junit", junit_file, "--markdown", md_file)
    assert result.returncode == 1, (result.stdout, result.stderr)
    regressed = [line for line in result.stdout.splitlines() if "| regression:" in line]
    assert regressed and all(line.startswith("| fastapi |") for line in regressed)
    assert any("| mixed |" in line for line in regressed), result.stdout
    assert "-30.0%" in regressed[0]
    suite = ET.parse(junit_file).getroot()
    assert suite.tag == "testsuite"
    assert int(suite.get("failures", "0")) == len(regressed)
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert {c.get("classname") for c in failed} == {"capacity.fastapi"}
    assert md_file.read_text(encoding="utf-8").startswith("### Capacity:")


def test_django_faster_is_an_improvement_and_exits_0(tmp_path: Path) -> None:
    base = _write(tmp_path / "base", _golden())
    new = _write(tmp_path / "new", _scaled(_golden(), "django", 1.6))
    result = run("compare", base, new)
    assert result.returncode == 0, result.stdout
    assert "improvement" in result.stdout


def test_a_missing_or_foreign_file_is_refused_naming_it(tmp_path: Path) -> None:
    good = _write(tmp_path / "good", _golden())
    assert_refused(run("compare", tmp_path / "nope", good), str(tmp_path / "nope"), "report folder")
    foreign = tmp_path / "other.json"
    foreign.write_text('{"series": []}', encoding="utf-8")
    assert_refused(run("compare", good, foreign), str(foreign), "not a results.json")
    assert_refused(run("compare", good, good, "--threshold", "1.5"), "threshold")
