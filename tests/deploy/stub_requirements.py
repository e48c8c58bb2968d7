"""The upstream stub image's requirements.txt, rendered from uv.lock: aiohttp and its closure,
each pinned to the lock's version with every hash the lock lists (pip --require-hashes).

    .venv/bin/python -m tests.deploy.stub_requirements     # rewrite it after `uv lock`

tests/deploy/test_images.py fails while the committed file differs from this rendering.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUB_REQUIREMENTS = ROOT / "deploy" / "images" / "upstream-stub" / "requirements.txt"
TOP = "aiohttp"  # what services/upstream_stub.py imports beyond the standard library
FIX_COMMAND = ".venv/bin/python -m tests.deploy.stub_requirements"


def closure(lock: dict[str, object], top: str = TOP) -> dict[str, str]:
    """Package name -> environment marker ('' = always) for `top` and all it depends on."""
    packages = {p["name"]: p for p in lock["package"]}  # type: ignore[attr-defined]
    found: dict[str, str] = {top: ""}
    pending = [top]
    while pending:
        for dep in packages[pending.pop()].get("dependencies", []):
            if dep["name"] not in found:
                found[dep["name"]] = dep.get("marker", "")
                pending.append(dep["name"])
    return found


def render(lock_path: Path = ROOT / "uv.lock") -> str:
    lock = tomllib.loads(lock_path.read_text(encoding="utf-8"))
    packages = {p["name"]: p for p in lock["package"]}
    lines = [
        f"# GENERATED from uv.lock by `{FIX_COMMAND}`: do not edit.",
        "# The upstream stub image installs exactly these (pip --no-deps --require-hashes).",
    ]
    for name, marker in sorted(closure(lock).items()):
        package = packages[name]
        artifacts = [package["sdist"]] if "sdist" in package else []
        artifacts += package.get("wheels", [])
        hashes = sorted(a["hash"] for a in artifacts)
        lines.append(f"{name}=={package['version']}" + (f" ; {marker}" if marker else "") + " \\")
        lines += [f"    --hash={h}" + (" \\" if i < len(hashes) - 1 else "") for i, h in
                  enumerate(hashes)]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    STUB_REQUIREMENTS.write_text(render(), encoding="utf-8")
    print(f"wrote {STUB_REQUIREMENTS.relative_to(ROOT)}")
