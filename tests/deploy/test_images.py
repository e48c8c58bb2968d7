"""The images the stacks run: the stub's own small build context and hashed dependencies."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from pydantic.alias_generators import to_camel

from capacity.errors import ConfigError
from deploy import images
from deploy.service import content_tag, image_build, stage_context
from deploy.stack_config import load_settings
from tests.deploy.harness import (
    ROOT,
    committed_stack_values,
    raw_from_stack_values,
    stack_files,
    stack_values,
)
from tests.deploy.policy import image_is_pinned
from tests.deploy.stub_requirements import FIX_COMMAND, STUB_REQUIREMENTS, render


def _project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    for part in ("services", "deploy/images"):
        shutil.copytree(ROOT / part, project / part, ignore=shutil.ignore_patterns("__pycache__"))
    return project


def test_a_service_change_does_not_change_the_stub_tag(tmp_path: Path) -> None:
    """The stub's tag (hence its pods) moves only with the stub, its requirements or Dockerfile."""
    project = _project_copy(tmp_path)
    stub, django = image_build("upstream"), image_build("django")
    before = content_tag(stub, project), content_tag(django, project)
    views = project / "services" / "django" / "items" / "views.py"
    views.write_text(views.read_text() + "\n# changed\n")
    assert content_tag(stub, project) == before[0]
    assert content_tag(django, project) != before[1]
    script = project / "services" / "upstream_stub.py"
    script.write_text(script.read_text() + "\n# changed\n")
    assert content_tag(stub, project) != before[0]


def test_the_staged_stub_context_holds_only_its_two_inputs(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    build = image_build("upstream")
    (project / build.context).mkdir(parents=True)
    (project / build.context / "stale.txt").write_text("from an earlier layout")
    stage_context(build, project)
    assert sorted(p.name for p in (project / build.context).iterdir()) == [
        "requirements.txt",
        "upstream_stub.py",
    ]
    assert (project / build.context / "upstream_stub.py").read_bytes() == (
        project / "services" / "upstream_stub.py"
    ).read_bytes()


def test_the_stub_requirements_are_the_locked_closure_with_hashes() -> None:
    text = STUB_REQUIREMENTS.read_text(encoding="utf-8")
    assert text == render(), f"{STUB_REQUIREMENTS.name} differs from uv.lock; run `{FIX_COMMAND}`"
    pins = [line for line in text.splitlines() if line and line[0].isalpha()]
    assert any(p.startswith("aiohttp==") for p in pins) and len(pins) >= 8
    dockerfile = (ROOT / image_build("upstream").dockerfile).read_text()
    assert "--require-hashes" in dockerfile and "--no-deps" in dockerfile


@pytest.mark.parametrize("stack_file", stack_files(), ids=lambda p: p.name)
def test_a_stack_without_image_digests_is_refused_with_the_commands_to_pin_them(
    stack_file: Path,
) -> None:
    """The committed stacks carry no digest (none could be resolved offline): `pulumi up` stops
    before any resource, naming every key to set and how to look its value up."""
    raw = raw_from_stack_values(committed_stack_values(stack_file))
    with pytest.raises(ConfigError) as e:
        load_settings(raw, ROOT)
    message = str(e.value)
    settings = load_settings(raw_from_stack_values(stack_values(stack_file)), ROOT)
    for image in settings.third_party_images():
        assert f"fwcap:{to_camel(image.key)}ImageDigest: `crane digest {image.tag_ref}`" in message
        assert f"docker buildx imagetools inspect {image.tag_ref}" in message


def test_a_bad_digest_and_a_tag_only_prebuilt_image_are_refused() -> None:
    local = raw_from_stack_values(stack_values(ROOT / "stacks" / "Pulumi.local.yaml"))
    with pytest.raises(ConfigError, match=r"fwcap:postgresImageDigest = 'sha256:abc'"):
        load_settings({**local, "postgresImageDigest": "sha256:abc"}, ROOT)
    prebuilt = {**local, "buildImages": False, "frameworks": ["fastapi"]}
    prebuilt["upstreamImage"] = "ghcr.io/acme/stub:1.0@sha256:" + "a" * 64
    with pytest.raises(ConfigError, match=r"fwcap:fastapiImage = 'ghcr.io/acme/f:1.0': no @sha"):
        load_settings({**prebuilt, "fastapiImage": "ghcr.io/acme/f:1.0"}, ROOT)
    # Without buildImages, the python base image is not needed.
    fine = {**prebuilt, "fastapiImage": "ghcr.io/acme/f:1.0@sha256:" + "b" * 64}
    fine.pop("pythonImageDigest")
    assert images.PYTHON not in load_settings(fine, ROOT).third_party_images()


def test_the_kind_node_and_the_local_registry_are_pinned_by_digest() -> None:
    kind = yaml.safe_load((ROOT / "deploy/kind/cluster.yaml").read_text())
    assert all(image_is_pinned(node["image"]) for node in kind["nodes"])
    script = (ROOT / "scripts/kind-up").read_text()
    registry = re.search(r"^REGISTRY_IMAGE=(\S+)", script, re.MULTILINE)
    assert registry and image_is_pinned(registry.group(1))
    # Every Dockerfile's base is the tag the program pins (a named build context of that name).
    for name in ("django", "fastapi", "upstream"):
        dockerfile = (ROOT / image_build(name).dockerfile).read_text()
        assert f"\nFROM {images.PYTHON.tag_ref}\n" in dockerfile


@pytest.mark.parametrize(
    ("machine", "platform"),
    [("x86_64", "linux/amd64"), ("AMD64", "linux/amd64"), ("arm64", "linux/arm64"),
     ("aarch64", "linux/arm64")],
)  # fmt: skip
def test_host_build_platform_follows_this_machine(machine: str, platform: str) -> None:
    """The local stack says `host`, so scripts/kind-up no longer writes the platform into the
    committed stack file."""
    local = load_settings(
        raw_from_stack_values(stack_values(ROOT / "stacks/Pulumi.local.yaml")), ROOT
    )
    assert local.build_platform == "host"
    assert local.resolved_build_platform(machine) == platform
    assert "pulumi config set" not in (ROOT / "scripts/kind-up").read_text()
