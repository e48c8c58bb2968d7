#!/usr/bin/env python3
"""Scaling validation: is the capacity measured with 2 pods within 15% of 2x one pod?

If the local target isolates pods the way a cluster does (each pod held to its own CPU quota,
load spread evenly, the generator never the bottleneck), doubling the pods doubles the capacity
at the SLO. Per framework this starts one local target with 2 pods of a small shape and runs the
real capacity run (open arrivals, search on the shared rate grid, confirmation) on the
db-read scenario, alternately against 1 pod (the second idles) and against both, for a few
rounds. Capacity at the SLO is the capacity model's point estimate (the geometric midpoint of
the confirmed interval, one 8% grid step wide). Each round's ratio compares two runs made
minutes apart, so slow drifts of a shared machine cancel out; the script prints every round
and the median.

    .venv/bin/python scripts/bench_scaling.py                        # both frameworks, 250m pods
    .venv/bin/python scripts/bench_scaling.py --frameworks django --rounds 5

Exit code 0 when every framework's median ratio is within the tolerance, 1 otherwise. About
7 minutes per framework with the defaults on a 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from capacity.measurements import read_records
from capacity.model import capacity_at_slo
from capacity.plan import Plan, build_plan
from capacity.run import CapacityRun, plan_slo
from capacity.target.base import Endpoints
from capacity.target.local import LocalTarget

TOLERANCE = 0.15


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def one_run(
    plan: Plan, endpoints: Endpoints, target: LocalTarget, pods: int, path: Path
) -> float | None:
    """Capacity at the SLO (req/s, all pods) of one capacity run against the first `pods` pods.

    With 1 of 2 pods the idle pod adds no requests and no latency samples to the step figures;
    only its (idle) CPU would dilute the per-pod CPU mean, which capacity does not use.
    """
    framework = plan.frameworks[0]
    urls = endpoints.service_urls[framework][:pods]
    subset = dataclasses.replace(endpoints, service_urls={framework: urls})
    CapacityRun(
        plan, subset, measurements_path=path, run_id=f"{target.run_id}-{path.stem}",
        check_pods=target.check_pods,
    ).run()  # fmt: skip
    records = read_records(path)
    for r in records:
        print(
            f"      step {r.step:2} r{r.grid_index} offered {r.offered_rps:7.1f} achieved "
            f"{r.achieved_rps:7.1f} client p95 {r.client_latency_p95_ms or 0:6.0f} ms over SLO "
            f"{r.over_slo_ratio:5.1%} {r.decision} gen {r.generator_cpu_ratio:.0%}",
            flush=True,
        )
    figure = capacity_at_slo(records, plan_slo(plan), path.stem).capacity_per_pod_rps
    return None if figure.value is None else float(figure.value) * pods


def bench(framework: str, args: argparse.Namespace, out: Path) -> dict[str, object]:
    plan = build_plan(
        cli={
            "frameworks": [framework], "scenarios": [args.scenario], "cpu": args.cpu,
            "memory": args.memory, "replicas": 2, "step_duration_s": args.step_duration,
            "warmup_s": 5, "max_probes": 12, "slo_p95_ms": args.slo_p95_ms,
        }
    )  # fmt: skip
    rounds: list[dict[str, object]] = []
    work = Path(tempfile.mkdtemp(prefix="fwcap-scaling-"))
    target = LocalTarget(
        plan.frameworks, 2, plan.pod_shape(), work, scrape_interval_s=plan.scrape_interval_s
    )
    try:
        with target as endpoints:
            for i in range(args.rounds):
                caps: dict[int, float | None] = {}
                for pods in (1, 2):
                    print(f"  {framework} round {i + 1}: {pods} pod(s)", flush=True)
                    path = out / f"{framework}-round{i + 1}-{pods}pod.jsonl"
                    caps[pods] = one_run(plan, endpoints, target, pods, path)
                    print(f"    capacity at SLO: {caps[pods]} req/s", flush=True)
                one, two = caps[1], caps[2]
                ratio = two / (2 * one) if one and two else None
                rounds.append({"one_pod_rps": one, "two_pods_rps": two, "ratio": ratio})
                print(f"  {framework} round {i + 1}: ratio {ratio}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = [float(r["ratio"]) for r in rounds if r["ratio"] is not None]  # type: ignore[arg-type]
    median = statistics.median(ratios) if ratios else None
    return {
        "framework": framework,
        "rounds": rounds,
        "median_ratio": median,
        "within_tolerance": median is not None and abs(median - 1) <= TOLERANCE,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--frameworks", default="django,fastapi")
    parser.add_argument("--scenario", default="db-read")
    parser.add_argument("--cpu", default="250m", help="pod CPU limit (small: 2 pods must fit)")
    parser.add_argument("--memory", default="256Mi")
    parser.add_argument("--step-duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slo-p95-ms", type=float, default=100.0)
    parser.add_argument("--out", type=Path, default=None, help="where the JSONL files go")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="fwcap-scaling-out-"))
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), kernel "
        f"{platform.release()}, load average at start {os.getloadavg()[0]:.2f}; pods "
        f"{args.cpu} / {args.memory}; scenario {args.scenario}; SLO p95 <= {args.slo_p95_ms:g} ms",
        flush=True,
    )
    started = time.monotonic()
    results = [bench(fw, args, out) for fw in args.frameworks.split(",")]
    for r in results:
        rounds = ", ".join(
            f"{x['one_pod_rps'] or 0:.0f} -> {x['two_pods_rps'] or 0:.0f} req/s"
            for x in r["rounds"]  # type: ignore[attr-defined]
        )
        median = r["median_ratio"]
        shown = "n/a" if median is None else f"{median:.3f}"
        verdict = "OK" if r["within_tolerance"] else "OUTSIDE"
        print(
            f"{r['framework']}: 1 pod -> 2 pods per round: {rounds}; median of "
            f"2 pods / (2 x 1 pod) = {shown} -> {verdict} +/-{TOLERANCE:.0%}"
        )
    print(f"wall time {time.monotonic() - started:.0f} s; details: {out / 'scaling.json'}")
    (out / "scaling.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["within_tolerance"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
