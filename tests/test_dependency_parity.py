"""One source of truth for each service's packages: uv.lock.

The images install services/<name>/requirements.txt; the tests and the local pods run the
`uv sync --frozen` venv. These tests fail when the two could differ: a requirements file that is
not the lock's export, a lock older than pyproject.toml, a venv that drifted from the lock, or a
service importing a package its image does not install. Each failure names the command that
fixes it.
"""

from __future__ import annotations

import ast
import difflib
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import export_requirements as export  # noqa: E402

FIX = f"run `{export.FIX_COMMAND}` (it re-locks, syncs the venv and re-exports)"
# Modules a service imports that are its own code, not a distribution.
OWN_PACKAGES = {"django": {"fwcap_django", "items"}, "fastapi": {"app"}}


def pinned(service: str) -> dict[str, str]:
    """{canonical name: version} that the image installs on this platform (markers applied)."""
    out: dict[str, str] = {}
    text = export.requirements_path(service).read_text(encoding="utf-8")
    # A requirement spans its backslash-continued --hash lines; only the first part matters.
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" --hash", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        (spec,) = req.specifier
        assert spec.operator == "==", f"{service}: {line!r} is not an exact pin; {FIX}"
        out[canonicalize_name(req.name)] = spec.version
    return out


def pyproject_groups() -> dict[str, list[str | dict[str, str]]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data["dependency-groups"]


def imported_top_modules(directory: Path) -> set[str]:
    """Top-level module names imported anywhere under `directory` (absolute imports only)."""
    names: set[str] = set()
    for path in directory.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("service", export.SERVICES)
def test_requirements_txt_is_the_export_of_the_lock(service: str) -> None:
    path = export.requirements_path(service)
    expected = export.render(service)
    actual = path.read_text(encoding="utf-8") if path.exists() else ""
    if actual != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    f"{path.relative_to(ROOT)} (now)",
                    "exported from uv.lock",
                )
            )[:40]
        )
        pytest.fail(f"{path.relative_to(ROOT)} differs from uv.lock; {FIX}\n{diff}")


@pytest.mark.parametrize("group", ["django-service", "fastapi-service", "services"])
def test_the_lock_was_made_from_the_current_pyproject_groups(group: str) -> None:
    """`uv export --frozen` trusts the lock, so a group edited without `uv lock` is caught here."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    (project,) = [p for p in lock["package"] if p["name"] == "fwcap"]
    locked = {
        canonicalize_name(d["name"]) for d in project["metadata"]["requires-dev"].get(group, [])
    }

    def names(group_name: str) -> set[str]:
        out: set[str] = set()
        for item in pyproject_groups()[group_name]:
            if isinstance(item, dict):
                out |= names(item["include-group"])
            else:
                out.add(canonicalize_name(Requirement(item).name))
        return out

    assert names(group) == locked, (
        f"group {group!r} of pyproject.toml lists {sorted(names(group))} but uv.lock was made "
        f"from {sorted(locked)}; run `{export.FIX_COMMAND}` (it runs `uv lock` first)"
    )


@pytest.mark.parametrize("service", export.SERVICES)
def test_the_venv_the_local_pods_run_has_the_image_versions(service: str) -> None:
    """Local pods run this interpreter's environment: it must hold what the image installs."""
    wrong = []
    for name, version in pinned(service).items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            wrong.append(f"{name}: image {version}, local venv {installed}")
    assert not wrong, (
        f"the venv local {service} pods run differs from its image: {wrong}; "
        f"run `{export.FIX_COMMAND}` (or `make setup`) to reinstall the lock"
    )


@pytest.mark.parametrize("service", export.SERVICES)
def test_every_package_a_service_imports_is_in_its_image(service: str) -> None:
    """A package only the dev venv has would work locally and fail (or change) in the image."""
    providers = importlib.metadata.packages_distributions()
    image = set(pinned(service))
    missing = []
    for module in sorted(imported_top_modules(ROOT / "services" / service)):
        if module in sys.stdlib_module_names or module in OWN_PACKAGES[service]:
            continue
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & image:
            missing.append(f"{module} (from {sorted(dists) or 'no installed distribution'})")
    assert not missing, (
        f"services/{service} imports {missing}, which its requirements.txt does not install; "
        f"add the distribution to the `{export.group_of(service)}` group in pyproject.toml, "
        f"then run `{export.FIX_COMMAND}`"
    )


def test_the_services_group_adds_only_what_no_service_imports() -> None:
    """A dependency added straight to `services` would reach the local pods but no image."""
    providers = importlib.metadata.packages_distributions()
    service_modules = imported_top_modules(ROOT / "services" / "django") | imported_top_modules(
        ROOT / "services" / "fastapi"
    )
    imported_dists = {canonicalize_name(d) for m in service_modules for d in providers.get(m, [])}
    extra = [
        item
        for item in pyproject_groups()["services"]
        if isinstance(item, str) and canonicalize_name(Requirement(item).name) in imported_dists
    ]
    assert not extra, (
        f"{extra} in the `services` group is imported by a service but installed by no image; "
        "move it to the `django-service` or `fastapi-service` group, then run "
        f"`{export.FIX_COMMAND}`"
    )


def test_fastapi_image_has_sniffio_for_httpcores_per_request_lookup() -> None:
    """httpcore calls `import sniffio` on every async request; when the import fails (sniffio
    missing) it costs about 17% of FastAPI's CPU on /api/upstream (issue 16)."""
    assert "sniffio" in pinned("fastapi"), f"sniffio is missing from the FastAPI image; {FIX}"
    assert re.search(r"^\s+import sniffio", _httpcore_sync_source(), re.MULTILINE), (
        "httpcore no longer imports sniffio per request: re-measure before dropping it"
    )


def _httpcore_sync_source() -> str:
    import httpcore._synchronization as sync

    return Path(sync.__file__).read_text(encoding="utf-8")
