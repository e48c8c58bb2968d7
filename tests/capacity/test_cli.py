"""The `capacity` command, run as a user runs it: answers on stdout, bad input named on
stderr with a non-zero exit, no traceback, and no report directory left behind.

The commands run in-process through typer's CliRunner (the same parsing, exit codes and
output streams as the installed script, without a Python start-up per call); the installed
script itself is run by tests/capacity/test_packaging.py and the signal tests.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capacity.cli import app


@dataclass(frozen=True)
class CliResult:
    """What a user sees: the exit code and both streams (a traceback lands on stderr)."""

    returncode: int
    stdout: str
    stderr: str


def run(*args: str | Path, cwd: Path | None = None) -> CliResult:
    assert cwd is None, "in-process runs share the test's working directory"
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # An uncaught exception: the installed script would print its traceback on stderr.
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception)
        )
    return CliResult(result.exit_code, result.stdout, stderr)


def assert_refused(result: CliResult, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    flat = " ".join(result.stderr.split())
    for needle in needles:
        assert needle in flat, (needle, result.stderr)


WHATIF = (
    "node_types: [t3.medium, m6i.xlarge]\n"
    "workloads:\n"
    "  - {name: fastapi, cpu: 500m, memory: 256Mi, replicas: 6}\n"
    "  - {name: django, cpu: 250m, memory: 512Mi, target_rps: 900,"
    " capacity_per_pod_rps: 150, headroom: 0.25}\n"
    "  - {name: batch, cpu: '2', memory: 4Gi, replicas: 2, node_type: c6i.xlarge}\n"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, measurements_file: Path) -> dict[str, tuple]:  # type: ignore[type-arg]
    """Every quick command of this module, with the directory each one must leave as it found
    it."""
    root = tmp_path_factory.mktemp("cli")
    commands: dict[str, list[str | Path]] = {
        "fit-json": ["fit", "--cpu", "500m", "--memory", "512Mi", "--node", "t3.medium", "--json"],
        "fit-table": ["fit", "--cpu", "0.5", "--memory", "1Gi"],
        "unknown-node": ["fit", "--cpu", "500m", "--memory", "512Mi", "--node", "t2.nano"],
        "bad-cpu": ["fit", "--cpu", "half", "--memory", "512Mi"],
        "bad-memory": ["fit", "--cpu", "500m", "--memory", "512MB"],
        "no-file": ["model", root / "no-file" / "nope.jsonl", "--out", root / "no-file" / "r"],
        "two-slos": [
            "model",
            measurements_file,
            "--out",
            root / "two-slos" / "report",
            "--slo-p95-ms",
            "100",
            "--slo-p99-ms",
            "200",
        ],
    }
    files = {
        "empty": "",
        "corrupt": '{"schema_version": 1,\n',
        "future": '{"schema_version": 2, "run_id": "x"}\n',
    }
    for name, content in files.items():
        (root / name).mkdir()
        (root / name / "measurements.jsonl").write_text(content)
        commands[name] = ["model", root / name / "measurements.jsonl", "--out", root / name / "r"]
    for name, content in {
        "whatif": WHATIF,
        "whatif-bad": "workloads:\n  - {name: a, cpu: 500m, memory: 512MB, replicas: 1}\n",
    }.items():
        (root / name).mkdir()
        (root / name / "plan.yaml").write_text(content)
    commands["whatif-json"] = ["whatif", root / "whatif" / "plan.yaml", "--json"]
    commands["whatif-table"] = ["whatif", root / "whatif" / "plan.yaml"]
    commands["whatif-bad"] = ["whatif", root / "whatif-bad" / "plan.yaml"]
    for name in commands:
        (root / name).mkdir(exist_ok=True)
    # One after the other: CliRunner swaps sys.stdout, which threads would share.
    return {name: (root / name, run(*args)) for name, args in commands.items()}


def test_fit_json_answers_the_node_arithmetic(runs: dict[str, tuple]) -> None:  # type: ignore[type-arg]
    _, result = runs["fit-json"]
    assert result.returncode == 0, result.stderr
    node = json.loads(result.stdout)["nodes"][0]
    assert node["node_type"] == "t3.medium"
    assert (node["pods_per_node"], node["binding"], node["max_pods"]) == (3, ["cpu"], 17)
    assert node["allocatable_cpu_millicores"] == 1930
    assert node["allocatable_memory_bytes"] == 3404516556
    formula = node["derivations"]["kube_reserved_memory_bytes"]["formula"]
    assert formula == "(11 * max_pods + 255) * mib"


def test_fit_table_covers_every_node_type(runs: dict[str, tuple]) -> None:  # type: ignore[type-arg]
    _, result = runs["fit-table"]
    assert result.returncode == 0, result.stderr
    for name in ("t3.medium", "e2-standard-4", "Standard_D4s_v5"):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        (
            "unknown-node",
            ["unknown node type 't2.nano'", "t3.medium", "e2-standard-2", "Standard_D2s_v5"],
        ),
        ("bad-cpu", ["CPU quantity 'half' is not valid", "accepted:", "500m"]),
        ("bad-memory", ["memory quantity '512MB' is not valid", "accepted:", "512Mi"]),
        ("empty", ["measurements.jsonl: empty measurements file"]),
        ("corrupt", ["measurements.jsonl:1: not JSON"]),
        ("future", ["written by a newer kit (schema_version 2); this kit reads 1"]),
        ("no-file", ["nope.jsonl does not exist"]),
        ("two-slos", ["give one SLO percentile", "--slo-p95-ms", "--slo-p99-ms"]),
        ("whatif-bad", ["plan.yaml", "memory quantity '512MB' is not valid"]),
    ],
)
def test_bad_input_exits_2_naming_the_value_and_leaves_nothing(
    runs: dict[str, tuple],  # type: ignore[type-arg]
    case: str,
    needles: list[str],
) -> None:
    folder, result = runs[case]
    assert_refused(result, *needles)
    assert sorted(p.name for p in folder.iterdir()) in ([], ["measurements.jsonl"], ["plan.yaml"])


def test_whatif_plans_several_workloads(runs: dict[str, tuple]) -> None:  # type: ignore[type-arg]
    _, result = runs["whatif-json"]
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    costs = [o["monthly_usd"] for o in answer["options"]]
    assert costs == sorted(costs)
    assert {o["candidate"] for o in answer["options"]} == {"t3.medium", "m6i.xlarge"}
    assert answer["cheapest"] == answer["options"][0]["candidate"]
    replicas = {w["name"]: w["replicas"]["value"] for w in answer["workloads"]}
    assert replicas == {"fastapi": 6, "django": 8, "batch": 2}
    _, table = runs["whatif-table"]
    assert table.returncode == 0 and "cheapest" in table.stdout


def test_model_command_writes_the_report(measurements_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = run(
        "model",
        measurements_file,
        "--out",
        out,
        "--slo-p99-ms",
        "150",
        "--target-rps",
        "2500",
        "--node",
        "t3.medium",
        "--node",
        "e2-standard-4",
        "--scenario",
        "db-read",
    )
    assert result.returncode == 0, result.stderr
    assert str(out) in " ".join(result.stdout.split())
    results = json.loads((out / "results.json").read_text())
    assert results["inputs"]["slo"]["percentile"] == "p99"
    assert results["inputs"]["target_rps"] == 2500
    assert results["inputs"]["node_types"] == ["t3.medium", "e2-standard-4"]
    assert (out / "report.md").exists() and (out / "report.html").exists()
    again = run("model", measurements_file, "--out", out)
    assert again.returncode == 1 and "already holds a report" in again.stderr
