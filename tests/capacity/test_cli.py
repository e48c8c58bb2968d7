"""The `capacity` command, run as a user runs it: answers on stdout, bad input named on
stderr with a non-zero exit, no traceback, and no report directory left behind.

The commands run in-process through typer's CliRunner (the same parsing, exit codes and
output streams as the installed script, without a Python start-up per call); the installed
script itself is run by tests/capacity/test_packaging.py and the signal tests.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from capacity.cli import COMMANDS, app
from capacity.errors import ConfigError, KitError, MeasurementsError, ReportError, TargetError
from capacity.interrupts import Interrupted


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
        "fit-prefix": [
            "fit",
            "--cpu",
            "500m",
            "--memory",
            "512Mi",
            "--node",
            "t3.medium",
            "--json",
            "--max-pods-mode",
            "prefix-delegation",
        ],
        "bad-max-pods": [
            "fit",
            "--cpu",
            "500m",
            "--memory",
            "512Mi",
            "--node",
            "e2-standard-2",
            "--max-pods",
            "300",
        ],
        "catalog-stale": ["catalog", "check", "--today", "2026-12-01"],
        "catalog-fresh": ["catalog", "check", "--today", "2025-03-01"],
        "catalog-bad-date": ["catalog", "check", "--today", "yesterday"],
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
        "future": '{"schema_version": 4, "run_id": "x"}\n',
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
    commands["whatif-bad-tier"] = [
        "whatif",
        root / "whatif" / "plan.yaml",
        "--control-plane",
        "free",
    ]
    commands["whatif-bad-purchase"] = [
        "whatif",
        root / "whatif" / "plan.yaml",
        "--purchase",
        "reserved",
    ]
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
    # EKS: aws-node 50m, kube-proxy 100m, ebs-csi-node 30m/104Mi, eks-pod-identity-agent slot
    assert (
        node["daemonset_pods"],
        node["daemonset_cpu_millicores"],
        node["daemonset_memory_bytes"],
    ) == (4, 180, 104 * 2**20)


def test_fit_with_prefix_delegation_raises_max_pods_and_kube_reserved(
    runs: dict[str, tuple],  # type: ignore[type-arg]
) -> None:
    _, result = runs["fit-prefix"]
    assert result.returncode == 0, result.stderr
    node = json.loads(result.stdout)["nodes"][0]
    assert (node["max_pods"], node["pods_per_node"]) == (110, 3)
    assert node["derivations"]["kube_reserved_memory_bytes"]["value"] == 1465 * 2**20


def test_catalog_check_lists_stale_prices_and_fails(runs: dict[str, tuple]) -> None:  # type: ignore[type-arg]
    _, stale = runs["catalog-stale"]
    assert stale.returncode == 1, stale.stderr
    assert "node type t3.medium: price $0.0416/h as of 2025-01-01 (699 days old" in stale.stdout
    assert "older than 180 days on 2026-12-01" in stale.stdout
    _, fresh = runs["catalog-fresh"]
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert fresh.stdout.startswith("0 price(s)")


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
        ("future", ["written by a newer kit (schema_version 4); this kit reads 3"]),
        ("no-file", ["nope.jsonl does not exist"]),
        ("two-slos", ["give one SLO percentile", "--slo-p95-ms", "--slo-p99-ms"]),
        ("whatif-bad", ["plan.yaml", "memory quantity '512MB' is not valid"]),
        ("bad-max-pods", ["max pods 300 is outside gcp's accepted range 8-256"]),
        ("catalog-bad-date", ["--today 'yesterday' is not a date", "YYYY-MM-DD"]),
        ("whatif-bad-tier", ["--control-plane free", "accepted for aws: standard, extended"]),
        ("whatif-bad-purchase", ["purchase option 'reserved'", "on-demand, spot, commit-1y"]),
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
        # The latency the run counted over (100 ms); the percentile may change (1% allowed).
        "--slo-p99-ms",
        "100",
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
    assert results["inputs"]["slo"]["allowed_over_slo_ratio"] == 0.01
    assert results["inputs"]["target_rps"] == 2500
    assert results["inputs"]["node_types"] == ["t3.medium", "e2-standard-4"]
    assert (out / "report.md").exists() and (out / "report.html").exists()
    again = run("model", measurements_file, "--out", out)
    assert again.returncode == 1 and "already holds a report" in again.stderr


def test_whatif_prices_the_reports_row_to_the_cent(report_dir: Path, tmp_path: Path) -> None:
    """The same input through `capacity whatif` and through the report: one cost model."""
    results = json.loads((report_dir / "results.json").read_text())
    fits = {(f["framework"], f["scenario"], f["node_type"]): f for f in results["fits"]}
    rows = [
        c
        for c in results["costs"]
        if c["monthly_usd"]["value"] is not None and c["node_type"] in ("t3.medium", "m6i.large")
    ][:4]
    assert rows
    for i, row in enumerate(rows):
        fit = fits[(row["framework"], row["scenario"], row["node_type"])]
        pods = row["pods_needed"]["inputs"]
        use = row["pod_cpu_use_cores"]["inputs"]
        plan = tmp_path / f"plan{i}.yaml"
        plan.write_text(
            json.dumps(
                {
                    "node_types": [row["node_type"]],
                    "workloads": [
                        {
                            "name": "w",
                            "cpu": f"{fit['pod_cpu_millicores']}m",
                            "memory": fit["pod_memory_bytes"],
                            "target_rps": pods["target_rps"],
                            "capacity_per_pod_rps": pods["capacity_per_pod_rps"],
                            "headroom": pods["headroom"],
                            "cpu_seconds_per_request": use["cpu_seconds_per_request"],
                            "idle_cpu_cores": use["idle_cpu_cores"],
                        }
                    ],
                }
            )
        )
        result = run("whatif", plan, "--json")
        assert result.returncode == 0, result.stderr
        option = json.loads(result.stdout)["options"][0]
        assert round(option["monthly_usd"], 2) == round(row["monthly_usd"]["value"], 2), row
        for term in ("burst_usd_month", "control_plane_usd_month", "spare_nodes_usd_month"):
            assert round(option[term]["value"], 2) == round(row[term]["value"], 2), term


# -- one CLI layer: exit codes, lazy commands, options declared once -------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [(KitError, 1), (ConfigError, 2), (MeasurementsError, 2), (TargetError, 1), (ReportError, 1)],
)
def test_every_kit_error_exits_with_its_class_code_through_a_command(
    monkeypatch: pytest.MonkeyPatch, error: type[KitError], code: int
) -> None:
    """One rule for every command: the class's exit_code, `error: <message>`, no traceback."""
    assert error.exit_code == code

    def fail(_path: object) -> None:
        raise error(f"the {error.__name__} message")

    monkeypatch.setattr("capacity.commands.fit.load_catalog", fail)
    result = run("fit", "--cpu", "500m", "--memory", "512Mi")
    assert result.returncode == code, result.stderr
    assert result.stderr == f"error: the {error.__name__} message\n"


@pytest.mark.parametrize(
    ("interrupt", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "interrupted (SIGINT)"),
        (Interrupted(signal.SIGINT), 130, "interrupted (SIGINT)"),
        (Interrupted(signal.SIGTERM), 143, "interrupted (SIGTERM)"),
    ],
)
def test_ctrl_c_and_sigterm_exit_128_plus_the_signal_from_any_command(
    monkeypatch: pytest.MonkeyPatch, interrupt: KeyboardInterrupt, code: int, line: str
) -> None:
    def stop(_path: object) -> None:
        raise interrupt

    monkeypatch.setattr("capacity.commands.whatif.load_whatif", stop)
    result = run("whatif", "plan.yaml")
    assert (result.returncode, result.stderr) == (code, line + "\n")


def test_a_note_on_an_error_is_printed_under_it(capsys: pytest.CaptureFixture[str]) -> None:
    """How `capacity report` says what a failed stage kept (commands/report.py `explained`)."""
    from capacity.commands.common import kit_errors

    error = TargetError("pod django-0 crashed")
    error.add_note("the run stopped; 3 finished step(s) kept")
    with pytest.raises(typer.Exit) as exited, kit_errors():
        raise error
    assert exited.value.exit_code == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: pod django-0 crashed",
        "the run stopped; 3 finished step(s) kept",
    ]


def test_help_documents_every_exit_code() -> None:
    result = run("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "Exit codes: 0 done; 1 the kit failed" in text
    codes = {cls.exit_code for cls in (KitError, *KitError.__subclasses__())}
    for code in sorted(codes | {130, 143}):
        assert f" {code} " in text, code


HELP_PROBE = """
import json, sys
from typer.testing import CliRunner
from capacity.cli import app

runner = CliRunner()
seen = {}
for args in (["--help"], ["fit", "--help"], ["model", "--help"], ["whatif", "--help"],
             ["catalog", "check", "--help"], ["report", "--help"]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
    seen[" ".join(args)] = sorted(
        m for m in sys.modules
        if m.split(".")[0] in ("matplotlib", "pandas", "numpy", "jinja2", "locust", "gevent",
                               "kubernetes", "httpx", "pydantic")
        or m.startswith(("capacity.commands.", "capacity.report", "capacity.run",
                         "capacity.target.local", "capacity.load.driver"))
    )
print(json.dumps(seen))
"""


def test_help_loads_no_command_and_a_commands_help_no_run_or_report_code() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", HELP_PROBE], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen["--help"] == [], "capacity --help lists the commands without importing them"
    heavy = ("matplotlib", "pandas", "numpy", "jinja2", "locust", "gevent", "kubernetes", "httpx")
    for args, modules in seen.items():
        tops = {m.split(".")[0] for m in modules}
        assert not tops & set(heavy), (args, modules)
        assert not [m for m in modules if m.startswith(("capacity.report", "capacity.run"))]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listing_shows_each_commands_own_summary(name: str) -> None:
    command = COMMANDS[name].load(name)
    first_paragraph = (command.help or "").split("\n\n")[0]
    assert " ".join(first_paragraph.split()) == COMMANDS[name].summary


def test_report_flags_reach_the_plan_by_their_field_and_name_their_flag_in_errors(
    tmp_path: Path,
) -> None:
    result = run("report", "--out", tmp_path / "out", "--step-duration", "1", "--warmup", "2")
    assert_refused(result, "step_duration_s (--step-duration)", "warmup_s (--warmup)")
    assert not (tmp_path / "out").exists()
    result = run("report", "--out", tmp_path / "out", "--rounds", "0", "--time-budget", "5")
    assert_refused(result, "rounds (--rounds)", "(got 0)", "time_budget_s (--time-budget)")
    assert not (tmp_path / "out").exists()


def test_report_help_shows_the_plans_own_defaults() -> None:
    from capacity.plan import Plan

    wide = CliRunner(env={"COLUMNS": "300", "TERMINAL_WIDTH": "300"}).invoke(
        app, ["report", "--help"]
    )
    text = " ".join(wide.stdout.replace("│", " ").split())
    plan = Plan()
    assert f"[default: {','.join(plan.frameworks)}]" in text
    assert f"[default: {','.join(plan.scenarios)}]" in text
    for shown in (
        f"CPU limit per pod: 500m, 0.5, 1 [{plan.cpu}]",
        f"Memory limit per pod: 512Mi, 1Gi [{plan.memory}]",
        f"p95 latency SLO, ms [{plan.slo_p95_ms:g}]",
        f"Seconds per load step, {plan.settle_s:g} s settle included [{plan.step_duration_s:g}]",
        f"Warm-up seconds per search [{plan.warmup_s:g}]",
    ):
        assert shown in text


def test_diagnostics_are_one_dim_line_each_and_warnings_say_so() -> None:
    from capacity.commands.common import DiagnosticHandler

    console = Console(file=io.StringIO(), width=40, soft_wrap=True, force_terminal=True)
    logger = logging.getLogger("capacity.test-diagnostics")
    handler = DiagnosticHandler(console=console)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("starting PostgreSQL on a line much longer than forty columns")
        logger.warning("could not remove cgroups: %s", "busy")
    finally:
        logger.removeHandler(handler)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines == [
        "\x1b[2mstarting PostgreSQL on a line much longer than forty columns\x1b[0m",
        "\x1b[2mwarning: could not remove cgroups: busy\x1b[0m",
    ]


def test_fit_caps_pods_by_pod_ips_with_the_cap_in_the_derivation() -> None:
    # Issue 25's acceptance: t3.medium, --max-pods 50, 100m/128Mi -> 3 x 5 = 15 pod IPs, one
    # taken by ebs-csi-node -> 14 (CPU alone would allow 17).
    args = ["fit", "--cpu", "100m", "--memory", "128Mi", "--node", "t3.medium"]
    result = CliRunner().invoke(app, [*args, "--max-pods", "50", "--json"])
    assert result.exit_code == 0, result.output
    node = json.loads(result.output)["nodes"][0]
    assert node["pods_per_node"] == 14 and node["binding"] == ["pod_ips"]
    derivation = node["derivations"]["pods_per_node"]
    assert derivation["inputs"]["pods_by_pod_ips"] == 14
    assert node["derivations"]["pods_by_pod_ips"]["inputs"] == {
        "pod_ips": 15,
        "daemonset_pod_ips": 1,
    }
    assert "max-pods-calculator.sh" in node["derivations"]["pod_ips"]["source"]


def test_whatif_takes_placement_credit_mode_and_arm_factor(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "node_types: [t3.medium, t4g.medium]\nworkloads:\n  - {name: fastapi, cpu: 500m, "
        "memory: 512Mi, target_rps: 1000, capacity_per_pod_rps: 130, headroom: 0.2, "
        "cpu_seconds_per_request: 0.00263, idle_cpu_cores: 0.108}\n",
        encoding="utf-8",
    )
    base = [
        "whatif",
        str(plan),
        "--spare-nodes",
        "0",
        "--control-plane",
        "none",
        "--addons",
        "none",
    ]
    cases = [
        (
            [],
            {"t3.medium": (198.49, 199.55, "unlimited"), "t4g.medium": (159.72, None, "unlimited")},
        ),
        (["--placement", "first-fit"], {"t3.medium": (199.55, 198.49, "unlimited")}),
        (["--purchase", "spot"], {"t3.medium": (42.52, 42.52, "standard")}),
        (["--arm-factor", "0.8"], {"t4g.medium": (120.16, 120.16, "unlimited")}),
    ]
    for extra, expected in cases:
        result = CliRunner().invoke(app, [*base, *extra, "--json"])
        assert result.exit_code == 0, result.output
        options = {o["candidate"]: o for o in json.loads(result.output)["options"]}
        for name, (monthly, alternative, mode) in expected.items():
            o = options[name]
            assert round(o["monthly_usd"], 2) == monthly, (extra, name)
            if alternative is not None:
                assert round(o["alternative_monthly"]["value"], 2) == alternative, (extra, name)
            assert o["credit_mode"] == mode
            assert bool(o["caveats"]) == (name == "t4g.medium")
