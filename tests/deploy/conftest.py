"""Fixtures for the deployment tests: the program run once per stack file (and per variant) under
Pulumi's mocks, and the chart rendered with the exact values the program passed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.settings import StackSettings
from deploy.stack_config import load_settings
from tests.deploy.harness import (
    MOCK_IMAGE_PINS,
    ROOT,
    STACKS_DIR,
    ProgramRun,
    pulumi_config,
    raw_from_stack_values,
    render_chart,
    run_program,
    stack_files,
    stack_values,
)

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"

# Beyond the committed stacks: the other branches of the settings.
VARIANTS: dict[str, dict[str, Any]] = {
    "existing-monitoring": {
        "fwcap:registry": "registry.example.com/fwcap",
        "fwcap:monitoringMode": "existing",
        "fwcap:existingPrometheusUrl": "http://kps-prometheus.monitoring.svc:9090",
        "fwcap:existingGrafanaUrl": "http://kps-grafana.monitoring.svc:80",
        "fwcap:prometheusReleaseLabel": "kps",
    },
    "prebuilt-images-hpa": {
        "fwcap:buildImages": False,
        "fwcap:frameworks": ["fastapi"],
        "fwcap:fastapiImage": "ghcr.io/acme/fwcap-fastapi:1.2.0@sha256:" + "cd" * 32,
        "fwcap:upstreamImage": "ghcr.io/acme/fwcap-upstream-stub:1.2.0@sha256:" + "ef" * 32,
        "fwcap:replicas": 2,
        "fwcap:hpaEnabled": True,
        "fwcap:hpaMaxReplicas": 5,
        "fwcap:cpu": "1.5",
        "fwcap:memory": "1Gi",
        "fwcap:workers": 3,
        "fwcap:namespace": "capacity-test",
        "fwcap:nodeCidrs": ["10.0.0.0/16", "fd00:10::/64"],
        "fwcap:apiServerCidrs": ["10.0.0.10/32", "10.0.0.11/32"],
        "fwcap:postgresBackupSchedule": "0 3 * * *",
    },
}


@dataclass
class Deployed:
    """One program run and what it was run with."""

    name: str
    values: dict[str, Any]  # stack config as written (fwcap:... keys)
    settings: StackSettings
    run: ProgramRun
    charts: dict[str, list[dict[str, Any]]]  # framework -> rendered chart manifests

    def all_manifests(self) -> list[dict[str, Any]]:
        rendered = [m for manifests in self.charts.values() for m in manifests]
        return self.run.manifests() + rendered


# A report's sizing.yaml, merged into the local stack as a user does (docs/deploy.md).
SIZING_FILE = Path(__file__).with_name("sizing.yaml")
SIZED = "sized-local"
# The local stack with the third contender enabled beside the two reference services.
THREE = "three-contenders"


def sized_stack_values() -> dict[str, Any]:
    sizing = yaml.safe_load(SIZING_FILE.read_text())["config"]
    return {**stack_values(STACKS_DIR / "Pulumi.local.yaml"), **sizing}


def all_cases() -> dict[str, dict[str, Any]]:
    cases = {f.name: stack_values(f) for f in stack_files()}
    cases.update({name: {**MOCK_IMAGE_PINS, **values} for name, values in VARIANTS.items()})
    cases[SIZED] = sized_stack_values()
    cases[THREE] = {
        **stack_values(STACKS_DIR / "Pulumi.local.yaml"),
        "fwcap:frameworks": ["django", "fastapi", "django-async"],
    }
    return cases


_cache: dict[str, Deployed] = {}


def deployed(name: str) -> Deployed:
    if name not in _cache:
        values = all_cases()[name]
        _, run = run_program(pulumi_config(values), stack=Path(name).stem)
        settings = load_settings(raw_from_stack_values(values), ROOT)
        charts = {}
        for chart in run.of_type(CHART_TYPE):
            charts[chart.name] = render_chart(
                chart.inputs["values"], chart.inputs["name"], chart.inputs["namespace"]
            )
        _cache[name] = Deployed(name, values, settings, run, charts)
    return _cache[name]


@pytest.fixture(params=sorted(all_cases()))
def case(request: pytest.FixtureRequest) -> Deployed:
    """Every stack file in stacks/ and every variant, run through the real program."""
    return deployed(request.param)


@pytest.fixture(params=[f.name for f in stack_files()])
def stack(request: pytest.FixtureRequest) -> Deployed:
    """Only the committed stack files."""
    return deployed(request.param)
