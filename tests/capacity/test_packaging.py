"""The kit works installed, not only from a checkout: `pip install .` into a fresh venv, then
`capacity model` on a committed measurements file, run outside the repository.

data/measurements.jsonl is tests/capacity/synthetic.py's run, written once and committed, so
the installed command reads a file this checkout did not just make.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MEASUREMENTS = Path(__file__).with_name("data") / "measurements.jsonl"
# Dev-only code the wheel must not carry (it needs the dev dependency group): the dashboards
# generator lives beside its output, outside the package (its JSON output is shipped).
DEV_ONLY_MODULES = ("grafana/generate.py", "capacity/grafana/generate.py")
DEV_ONLY_IMPORT = "grafana_foundation_sdk"
# (Not pytest: locust itself depends on it.)
DEV_ONLY_DISTRIBUTIONS = ("grafana-foundation-sdk", "hypothesis", "schemathesis", "mypy")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Run by the installed Python: where its data comes from, which modules it has, and which of
# the dev-only distributions (argv) it can import.
PROBE = """
import importlib, importlib.util, json, pkgutil, sys
import capacity
from capacity.report.schema import SCHEMA_PATH, results_schema
from capacity.target import grafana
names = sorted(m.name for m in pkgutil.walk_packages(capacity.__path__, "capacity."))
for name in names:
    if name != "capacity.load.locustfile":  # importing it monkey-patches with gevent
        importlib.import_module(name)
dev = [d for d in sys.argv[1:] if importlib.util.find_spec(d.replace("-", "_")) is not None]
print(json.dumps({"schema_file": str(SCHEMA_PATH), "schema": results_schema()["$schema"],
                  "grafana": str(grafana.PROVISIONING_DIR), "modules": names, "dev": dev}))
"""


def _install(venv: Path) -> Path:
    """A fresh venv with the kit installed from this checkout; returns its python."""
    uv = shutil.which("uv")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    if uv is not None:
        # uv's `pip install` is pip's command with uv's cache: the same install, in seconds.
        steps = [
            [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
            [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(REPO)],
        ]
    else:
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(REPO)],
        ]
    for argv in steps:
        # From the checkout: a pyenv shim picks its Python version by the working directory.
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=500)
        assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("installed")
    return _install(root / "venv")


def test_installed_capacity_model_writes_a_valid_report(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(
        [str(installed.with_name("capacity")), "model", str(MEASUREMENTS), "--out", str(out)],
        cwd=tmp_path,  # not the checkout: nothing may be read from the repository's folders
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["schema_version"] == 1
    assert results["inputs"]["slo"]["percentile"] == "p95"
    assert {row["framework"] for row in results["series"]} == {"django", "fastapi"}
    assert results["inputs"]["records"] == len(MEASUREMENTS.read_text().splitlines())
    assert "<html" in (out / "report.html").read_text()
    assert (out / "report.md").read_text().strip()


def test_installed_package_reads_its_data_from_itself_and_carries_no_dev_code(
    installed: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(
        [str(installed), "-c", PROBE, *DEV_ONLY_DISTRIBUTIONS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert "site-packages" in found["schema_file"] and "json-schema.org" in found["schema"]
    assert "site-packages" in found["grafana"] and Path(found["grafana"]).is_dir()
    # Every module of the installed kit imported without the dev-only distributions.
    assert "capacity.target.grafana" in found["modules"]
    assert found["dev"] == [], "dev-only distributions were installed with the kit"


def test_the_wheel_leaves_dev_only_modules_out(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (make setup installs it); it builds the wheel here")
    done = subprocess.run(
        [uv, "build", "--wheel", "--quiet", "-o", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    for module in DEV_ONLY_MODULES:
        assert module not in names
    python = [n for n in names if n.endswith(".py")]
    assert python and all(n.startswith("capacity/") for n in python), python
    assert not [n for n in python if DEV_ONLY_IMPORT in archive.read(n).decode()]
    assert "capacity/grafana/dashboards/capacity-run.json" in names
    assert "capacity/schemas/results.schema.json" in names
    assert "capacity/report/templates/report.html.j2" in names
    assert not any(n.startswith(("tests/", "services/", "deploy/")) for n in names)
