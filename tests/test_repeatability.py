"""scripts/repeatability.py: the runs-agree check of issue 22 on hand-made report folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import repeatability  # noqa: E402


def _report(
    folder: Path, ratio: float, ci: tuple[float, float], django: float, fastapi: float,
    speeds: list[float], costs: dict[str, float] | None = None,
) -> Path:  # fmt: skip
    folder.mkdir(parents=True)
    results = {
        "comparisons": [
            {"scenario": "mixed", "capacity_ratio": ratio, "capacity_ratio_ci95": list(ci)}
        ],
        "series": [
            {
                "framework": fw,
                "scenario": "mixed",
                "capacity_per_pod_rps": {"value": v},
                # under load a request costs 90% of what it costs alone (or 2 ms)
                "cpu_seconds_per_request": {"value": 0.9 * (costs or {}).get(fw, 0.002 / 0.9)},
            }
            for fw, v in (("django", django), ("fastapi", fastapi))
        ],
    }
    (folder / "results.json").write_text(json.dumps(results))
    records = [{"framework": "django", "cpu_speed": s} for s in speeds] + [
        {"framework": fw, "cpu_speed": None, "request_probe_cpu_s": c}
        for fw, c in (costs or {}).items()
    ]
    (folder / "measurements.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_runs_that_agree_hold_and_the_probe_takes_out_a_slower_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Run 3's machine is 20% slower (probe 10 against 12.5): its capacities are 20% lower raw,
    # the same normalised.
    a = _report(tmp_path / "a", 1.20, (1.10, 1.30), 200.0, 240.0, [12.0, 12.5, 13.0])
    b = _report(tmp_path / "b", 1.25, (1.15, 1.35), 205.0, 250.0, [12.5])
    c = _report(tmp_path / "c", 1.22, (1.12, 1.32), 160.0, 195.2, [9.0, 10.0, 11.0])
    assert repeatability.main([str(a), str(b), str(c)]) == 0
    out = capsys.readouterr().out
    assert "django mixed req/s per pod, raw: 200.0 | 205.0 | 160.0; span 28.1%" in out
    assert "normalised by core-speed: 200.0 | 205.0 | 200.0; span 2.5%" in out
    assert "holds: mixed: the ratios span 4.2% (<= 10%)" in out
    assert "normalised by request-cost: a run has no such probe" in out
    assert "FAILS" not in out


def test_capacities_normalised_by_the_request_cost_probe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The core-speed probe says run b's machine was 30% faster; the services' own requests
    # cost 8% less there, and their capacities rose 8%: the request cost takes it out.
    a = _report(
        tmp_path / "a",
        1.2,
        (1.1, 1.3),
        165.0,
        196.0,
        [8.3],
        {"django": 0.00300, "fastapi": 0.00250},
    )
    b = _report(tmp_path / "b", 1.2, (1.1, 1.3), 179.0, 212.0, [10.8],
                {"django": 0.00276, "fastapi": 0.00230})  # fmt: skip
    assert repeatability.main([str(a), str(b), "--by", "request-cost"]) == 0
    out = capsys.readouterr().out
    assert "median request cost django 3.000 ms, fastapi 2.500 ms" in out
    assert "holds: django mixed: span normalised by request-cost 0.2% (<= 10%)" in out
    assert "normalised by cpu-per-request: 171.9 | 171.5; span 0.2%" in out
    assert repeatability.main([str(a), str(b)]) == 1, "by the core-speed probe it fails"
    assert "FAILS: django mixed: span normalised by core-speed 19.9% (<= 10%)" in (
        capsys.readouterr().out
    )


def test_a_ratio_outside_another_runs_interval_and_a_wide_span_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _report(tmp_path / "a", 1.30, (1.25, 1.35), 200.0, 260.0, [12.0])
    b = _report(tmp_path / "b", 1.10, (1.00, 1.40), 200.0, 220.0, [12.0])
    assert repeatability.main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "FAILS: mixed: each ratio inside the other runs' 95% intervals" in out
    assert "FAILS: mixed: the ratios span 18.2% (<= 10%)" in out
    assert "FAILS: fastapi mixed: span normalised by core-speed 18.2% (<= 10%)" in out
    assert "holds: django mixed: span normalised by core-speed 0.0% (<= 10%)" in out


def test_a_folder_that_is_not_a_report_is_named_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _report(tmp_path / "a", 1.2, (1.1, 1.3), 200.0, 240.0, [12.0])
    assert repeatability.main([str(a), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'missing'}: not a capacity report folder" in err
    with pytest.raises(SystemExit) as one:
        repeatability.main([str(a)])
    assert one.value.code == 2
    assert "needs two or more report folders to compare, got 1" in capsys.readouterr().err
