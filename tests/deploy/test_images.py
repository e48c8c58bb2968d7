"""The images the stacks run: the stub's own small build context and hashed dependencies."""

from __future__ import annotations

import shutil
from pathlib import Path

from deploy.service import content_tag, image_build, stage_context
from tests.deploy.harness import ROOT
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
