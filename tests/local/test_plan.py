"""The plan: defaults < --quick < plan file < CLI flags, and a clear error for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from capacity.errors import ConfigError
from capacity.load.scenarios import DEFAULT_SCENARIOS, QUICK_SCENARIOS
from capacity.plan import build_plan


def test_defaults_measure_both_frameworks_one_pod_at_500m_512mi() -> None:
    plan = build_plan()
    assert plan.frameworks == ["django", "fastapi"]
    assert plan.scenarios == list(DEFAULT_SCENARIOS)
    assert (plan.replicas, plan.cpu_millicores, plan.memory_bytes) == (1, 500, 512 * 2**20)
    assert plan.pod_shape().effective_workers() == 1
    assert plan.window_s == int(plan.step_duration_s - plan.settle_s)


def test_sources_override_in_order(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text("scenarios: [write, cpu]\ncpu: 250m\nstep_duration_s: 12\n")
    plan = build_plan(quick=True, plan_file=plan_file, cli={"cpu": "1", "memory": None})
    assert plan.scenarios == ["write", "cpu"]  # file beats --quick
    assert plan.step_duration_s == 12
    assert plan.cpu_millicores == 1000  # flag beats file; None means "not given"
    assert plan.memory_bytes == 512 * 2**20
    assert plan.max_probes == 6  # from --quick
    assert build_plan(quick=True).scenarios == list(QUICK_SCENARIOS)


def test_the_lean_variants_are_measured_when_named() -> None:
    plan = build_plan(cli={"frameworks": "fastapi,fastapi-lean,django,django-lean"})
    assert plan.frameworks == ["fastapi", "fastapi-lean", "django", "django-lean"]


def test_comma_lists_are_split_and_deduplicated() -> None:
    plan = build_plan(cli={"frameworks": "fastapi, fastapi", "scenarios": "cpu,db-read"})
    assert plan.frameworks == ["fastapi"]
    assert plan.scenarios == ["cpu", "db-read"]


@pytest.mark.parametrize(
    ("cli", "needles"),
    [
        (
            {"frameworks": "flask"},
            [
                "frameworks (--frameworks)",
                "'django', 'fastapi', 'django-lean', 'fastapi-lean' or 'django-async'",
            ],
        ),
        ({"scenarios": "db-read,login"}, ["unknown scenario(s) 'login'", "accepted: db-read"]),
        ({"cpu": "half"}, ["cpu (--cpu)", "'half'", "500m"]),
        ({"cpu": "5m"}, ["below 10m"]),
        ({"memory": "512MB"}, ["memory (--memory)", "512Mi"]),
        ({"replicas": 0}, ["replicas (--replicas)", "greater than or equal to 1", "got 0"]),
        ({"error_budget": 1.5}, ["error_budget (--error-budget)", "less than 1"]),
        ({"slo_p95_ms": -1}, ["slo_p95_ms (--slo-p95-ms)"]),
        ({"step_duration_s": 4, "settle_s": 2}, ["leaves no measuring window", "use at least 5 s"]),
        ({"prometheus_port": 70000}, ["prometheus_port (--prometheus-port)", "65535"]),
    ],
)
def test_bad_values_name_the_option_the_value_and_what_is_accepted(
    cli: dict[str, object], needles: list[str]
) -> None:
    with pytest.raises(ConfigError) as err:
        build_plan(cli=cli)
    for needle in needles:
        assert needle in str(err.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("scenarios: [db-read\n", "not valid YAML"),
        ("- db-read\n", "must be a mapping"),
        ("scenaros: [db-read]\n", "unknown key(s) scenaros"),
        ("grid_ratio: 1.0\n", "greater than 1"),
    ],
)
def test_bad_plan_files_are_reported_with_the_file(tmp_path: Path, text: str, needle: str) -> None:
    plan_file = tmp_path / "p.yaml"
    plan_file.write_text(text)
    with pytest.raises(ConfigError) as err:
        build_plan(plan_file=plan_file)
    assert needle in str(err.value)
    assert "p.yaml" in str(err.value)


def test_missing_plan_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_plan(plan_file=tmp_path / "nope.yaml")
