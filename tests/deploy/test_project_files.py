"""The Pulumi project file, the stack files and the image build inputs agree with the program:
Pulumi.yaml declares every setting with the same type, description and default as
deploy/settings.py; each stack file is commented, sets only declared keys with the declared types
(what the Pulumi CLI enforces), and loads; every Dockerfile the program builds exists."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, get_origin

import pytest
import yaml

from deploy.service import IMAGES, image_build
from deploy.settings import StackSettings
from deploy.stack_config import load_settings
from tests.deploy.harness import (
    PROJECT_FILE,
    ROOT,
    raw_from_stack_values,
    stack_files,
    stack_values,
)

PULUMI_TYPES = {str: "string", int: "integer", bool: "boolean", tuple[str, ...]: "array"}


def pulumi_type(annotation: Any) -> str:
    # fwcap:sizing's mapping of framework -> FrameworkSizing is an opaque object to the CLI.
    return "object" if get_origin(annotation) is dict else PULUMI_TYPES[annotation]


def project() -> dict[str, Any]:
    return dict(yaml.safe_load(PROJECT_FILE.read_text()))


def test_project_runs_python_with_uv_and_keeps_stacks_in_stacks_dir() -> None:
    p = project()
    assert p["name"] == "fwcap"
    assert p["runtime"]["name"] == "python"
    assert p["runtime"]["options"]["toolchain"] == "uv"
    assert p["stackConfigDir"] == "stacks"
    assert (ROOT / "__main__.py").is_file()


def test_project_config_declares_every_setting_like_settings_py() -> None:
    config = project()["config"]
    fields = {f.alias: f for f in StackSettings.model_fields.values()}
    assert sorted(config) == sorted(fields)
    for key, spec in config.items():
        field = fields[key]
        assert spec["type"] == pulumi_type(field.annotation), key
        if spec["type"] == "array":
            assert spec["items"] == {"type": "string"}
        assert spec["description"] == field.description, key
        default = tuple(spec["default"]) if spec["type"] == "array" else spec["default"]
        assert default == field.default, key


def _is_of_declared_type(value: Any, declared: str) -> bool:
    if declared == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if declared == "boolean":
        return isinstance(value, bool)
    if declared == "array":
        return isinstance(value, list)
    if declared == "object":
        return isinstance(value, dict)
    return isinstance(value, str)


@pytest.mark.parametrize("stack_file", stack_files(), ids=lambda p: p.name)
def test_stack_file_is_commented_declared_typed_and_valid(stack_file: Path) -> None:
    text = stack_file.read_text()
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 5, "each stack explains itself"
    declared = project()["config"]
    values = stack_values(stack_file)
    for key, value in values.items():
        namespace, _, name = key.partition(":")
        assert namespace in ("fwcap", "kubernetes", "aws"), key
        if namespace == "fwcap":
            assert name in declared, f"{key} is not declared in Pulumi.yaml"
            assert _is_of_declared_type(value, declared[name]["type"]), key
    settings = load_settings(raw_from_stack_values(values), ROOT)
    # Both committed stacks build and push images: to their registry, or to ECR repositories.
    assert settings.build_images and (settings.registry or settings.ecr)


def test_at_least_a_local_and_an_eks_stack() -> None:
    names = {p.name for p in stack_files()}
    assert {"Pulumi.local.yaml", "Pulumi.eks.yaml"} <= names
    local = stack_values(ROOT / "stacks" / "Pulumi.local.yaml")
    assert local["fwcap:registry"] == "localhost:5001"
    eks = (ROOT / "stacks" / "Pulumi.eks.yaml").read_text()
    assert "t3.medium" in eks
    eks_values = stack_values(ROOT / "stacks" / "Pulumi.eks.yaml")
    assert eks_values["fwcap:ecr"] is True and eks_values["fwcap:ebsCsiDriver"] is True


@pytest.mark.parametrize("name", IMAGES)
def test_every_image_the_program_builds_has_its_dockerfile_and_context(name: str) -> None:
    build = image_build(name)
    # A staged context exists once `pulumi up` has assembled it from its sources.
    assert build.staged or (ROOT / build.context).is_dir(), build
    assert (ROOT / build.dockerfile).is_file(), build


def test_upstream_stub_image_copies_the_stub_from_its_context() -> None:
    build = image_build("upstream")
    dockerfile = (ROOT / build.dockerfile).read_text()
    assert "COPY upstream_stub.py" in dockerfile and "COPY requirements.txt" in dockerfile
    assert set(build.staged) == {"upstream_stub.py", "requirements.txt"}
    assert all((ROOT / source).is_file() for source in build.staged.values())
    assert "USER 10001" in dockerfile


@pytest.mark.skipif(shutil.which("hadolint") is None and not (ROOT / ".venv/bin/hadolint").exists(),
                    reason="hadolint is not installed")  # fmt: skip
def test_upstream_stub_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv/bin/hadolint")
    result = subprocess.run(
        [hadolint, str(ROOT / image_build("upstream").dockerfile)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
