"""The deploy package's layering: only the composition (deploy/inputs.py, the loading in
deploy/stack_config.py and __main__.py) sees the whole StackSettings; the pure builders in
deploy/specs/ register nothing; components take their own few inputs."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.deploy.harness import ROOT

DEPLOY = ROOT / "deploy"
SEES_ALL_SETTINGS = {"settings.py", "stack_config.py", "inputs.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_only_the_composition_reads_the_whole_stack_settings() -> None:
    readers = sorted(
        str(path.relative_to(DEPLOY))
        for path in DEPLOY.rglob("*.py")
        if "deploy.settings" in _imports(path) and path.name not in SEES_ALL_SETTINGS
    )
    assert readers == []


def test_the_pure_builders_register_nothing() -> None:
    # Registering goes through deploy/resources.py or a component; a builder only returns Args.
    registering = sorted(
        str(path.relative_to(DEPLOY))
        for path in (DEPLOY / "specs").glob("*.py")
        if "deploy.resources" in _imports(path)
        or ".ComponentResource" in path.read_text()
        or "opts=" in path.read_text()
    )
    assert registering == []
