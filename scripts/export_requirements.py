#!/usr/bin/env python3
"""Write each service's requirements.txt from uv.lock: the one source of its pinned packages.

The lock is the source of truth. `services/<name>/requirements.txt` is what the image installs
(`pip install --no-deps --require-hashes`), and it is exported from the lock's
`<name>-service` dependency group, so the image, the tests and the local pods (which run from
the `uv sync --frozen` venv) get the same versions. Never edit a requirements.txt by hand: add
the dependency to the group in pyproject.toml, then run

    make requirements          # uv lock, make setup, then this script

`--check` exits 1, naming each stale file, instead of writing (tests/test_dependency_parity.py
runs the same comparison).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("django", "fastapi")
FIX_COMMAND = "make requirements"


class ExportError(Exception):
    """uv is missing or refused to export (e.g. the lock is out of date with pyproject.toml)."""


def group_of(service: str) -> str:
    """The pyproject.toml dependency group whose closure a service's image installs."""
    if service not in SERVICES:
        raise ExportError(f"unknown service {service!r}; expected one of {SERVICES}")
    return f"{service}-service"


def requirements_path(service: str, root: Path = ROOT) -> Path:
    return root / "services" / service / "requirements.txt"


def header(service: str) -> str:
    return (
        f"# GENERATED from uv.lock (group `{group_of(service)}` of pyproject.toml) by "
        f"`{FIX_COMMAND}`: do not edit.\n"
        "# The image installs exactly these (pip --no-deps --require-hashes); the tests and the\n"
        "# local pods run the same versions from the uv.lock venv. Why each direct dependency is\n"
        "# here: the comment beside it in pyproject.toml.\n"
    )


def render(service: str, root: Path = ROOT) -> str:
    """The requirements.txt text `service` should have, exported from the lock."""
    uv = shutil.which("uv")
    if uv is None:
        raise ExportError("`uv` is not on PATH; `make setup` installs it (pip install uv)")
    command = [
        uv, "export", "--frozen", "--format", "requirements-txt", "--only-group",
        group_of(service), "--no-emit-project", "--no-header",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ExportError(
            f"`{' '.join(command[1:])}` failed (exit {done.returncode}): {done.stderr.strip()}"
        )
    return header(service) + done.stdout


def stale(root: Path = ROOT) -> list[Path]:
    """The requirements files that differ from what the lock says."""
    out = []
    for service in SERVICES:
        path = requirements_path(service, root)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != render(service, root):
            out.append(path)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    args = parser.parse_args(argv)
    try:
        if args.check:
            paths = stale()
            for path in paths:
                print(f"{path.relative_to(ROOT)} differs from uv.lock; run `{FIX_COMMAND}`")
            return 1 if paths else 0
        for service in SERVICES:
            path = requirements_path(service)
            path.write_text(render(service), encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
