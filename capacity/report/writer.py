"""Writing a report so that nothing half-written ever looks like one.

Everything is written into a hidden temporary directory beside (or inside) the output
directory first. A new output directory appears by a single rename. An existing one (the
measurement run's own directory, holding the JSONL) receives the finished files by rename,
results.json last: a directory without results.json is not a report.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from capacity.errors import KitError, ReportError

# Moved in this order; sizing.yaml and manifests/ exist only when a series could be sized, and
# an older report's copies go when the new report has none (they would no longer match it).
REPORT_FILES = ("plots", "manifests", "sizing.yaml", "report.md", "report.html", "results.json")


def _prepare(out_dir: Path, overwrite: bool) -> Path:
    """The directory the temp dir is created in; refuses to clobber a report unless asked."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"output {out_dir} exists and is not a directory; choose another --out")
    if out_dir.is_dir():
        existing = [name for name in REPORT_FILES if (out_dir / name).exists()]
        if existing and not overwrite:
            raise ReportError(
                f"{out_dir} already holds a report ({', '.join(existing)}); choose another "
                "--out or pass --overwrite"
            )
        return out_dir
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create {parent} for the report: {exc}") from exc
    return parent


def write_atomically(
    out_dir: Path, fill: Callable[[Path], None], *, overwrite: bool = False
) -> Path:
    """Call fill(tmp) to write the report files into tmp, then publish them at out_dir."""
    out_dir = Path(out_dir)
    home = _prepare(out_dir, overwrite)
    if not os.access(home, os.W_OK):
        raise ReportError(f"cannot write the report: {home} is not writable")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=home))
    except OSError as exc:
        raise ReportError(f"cannot write the report into {home}: {exc}") from exc
    try:
        tmp.chmod(
            0o755
        )  # mkdtemp makes it 0700; the published directory should read like any other
        fill(tmp)
        if home is out_dir:
            for name in REPORT_FILES:
                target, made = out_dir / name, tmp / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists() and not made.exists():
                    target.unlink()
                if made.exists():
                    made.replace(target)
            tmp.rmdir()
        else:
            tmp.rename(out_dir)
    except KitError:
        raise
    except Exception as exc:
        raise ReportError(f"writing the report to {out_dir} failed: {exc}") from exc
    finally:
        if tmp.exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)
    return out_dir
