#!/usr/bin/env python3
"""How long the local target takes to restart its pods between rounds: side by side (what
`LocalTarget.restart_pods` does) against one pod after the other (what it did until
2026-12-08), alternating, on one running target.

Both ways keep every pod under its CPU quota while it starts (no start-up boost once measuring
has begun). A 5-round `make report` restarts its pods 4 times; what a restart saves goes to the
steps within the run's time budget.

    .venv/bin/python scripts/bench_pod_restart.py              # ~2 minutes
    .venv/bin/python scripts/bench_pod_restart.py --repeats 8
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from capacity.target.base import PodShape  # noqa: E402
from capacity.target.local import LocalTarget  # noqa: E402


def one_after_the_other(target: LocalTarget) -> None:
    """The earlier restart: stop a pod, start it and wait until it is ready, then the next."""
    assert target.endpoints is not None
    pods = target.endpoints.pods
    for i, pod in enumerate(pods):
        target._pod_processes[pod.name].stop()
        pods[i] = target._ready_pod(target._launch_pod(pod.framework, pod.name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4, help="restarts of each kind [4]")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    work = Path(tempfile.mkdtemp(prefix="fwcap-bench-restart-"))
    took: dict[str, list[float]] = {"side by side": [], "one after the other": []}
    try:
        target = LocalTarget(
            ["django", "fastapi"], 1, PodShape(500, 512 * 2**20), work, scrape_interval_s=1,
            locust_workers=1,
        )  # fmt: skip
        with target:
            for _ in range(args.repeats):
                for kind, restart in (
                    ("side by side", target.restart_pods),
                    ("one after the other", lambda: one_after_the_other(target)),
                ):
                    started = time.monotonic()
                    restart()
                    took[kind].append(time.monotonic() - started)
                    print(f"  {kind:20s} {took[kind][-1]:5.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for kind, values in took.items():
        print(
            f"{kind:20s} median {statistics.median(values):5.2f} s "
            f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
        )
    ratio = statistics.median(took["side by side"]) / statistics.median(took["one after the other"])
    print(f"side by side / one after the other: {ratio:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
