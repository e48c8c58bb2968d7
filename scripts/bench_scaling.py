#!/usr/bin/env python3
"""Scaling validation: is the capacity measured with 2 pods within 15% of 2x one pod?

If the local target isolates pods the way a cluster does (each pod held to its own CPU quota,
load spread evenly, the generator never the bottleneck), doubling the pods doubles the capacity
at the SLO. This runs the real local capacity run twice per framework - 1 pod, then 2 pods of
the same small shape - on the db-read scenario with a fine ladder around the knee, computes
capacity at the SLO with the capacity model's own rule, and prints the ratio.

    .venv/bin/python scripts/bench_scaling.py                      # both frameworks, 250m pods
    .venv/bin/python scripts/bench_scaling.py --frameworks django --cpu 250m --step-duration 10

Exit code 0 when every framework is within the tolerance, 1 otherwise. Takes about 4-5 minutes
per framework on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from capacity.measurements import read_records
from capacity.model import capacity_at_slo
from capacity.plan import Plan, build_plan
from capacity.run import CapacityRun, plan_slo
from capacity.target.local import LocalTarget

TOLERANCE = 0.15
# 5% steps around the warm-up ceiling: the knee is found to within about 5%.
FINE_LADDER = [0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3]


def measure(plan: Plan, out: Path, log: bool) -> dict[str, object]:
    """One local run of `plan` (one framework); returns its capacity at the SLO."""
    framework = plan.frameworks[0]
    measurements = out / f"{framework}-{plan.replicas}pod.jsonl"
    work = out / f"work-{framework}-{plan.replicas}pod"
    try:
        target = LocalTarget(
            plan.frameworks, plan.replicas, plan.pod_shape(), work,
            scrape_interval_s=plan.scrape_interval_s, locust_workers=plan.locust_workers,
            log=(lambda m: print(f"    {m}", flush=True)) if log else None,
        )  # fmt: skip
        with target as endpoints:
            run = CapacityRun(
                plan, endpoints, measurements_path=measurements, run_id=target.run_id,
                check_pods=target.check_pods,
            )  # fmt: skip
            run.run()
    finally:  # keep the logs, drop the data directories
        for data in ("pgdata", "prometheus-data"):
            shutil.rmtree(work / data, ignore_errors=True)
    records = read_records(measurements)
    for r in records:
        print(
            f"    step {r.step:2} offered {r.offered_rps:7.1f} achieved {r.achieved_rps:7.1f} "
            f"p95 {r.latency_p95_ms or 0:6.1f} ms cpu/pod {r.pod_cpu_cores:.2f} "
            f"gen {r.generator_cpu_ratio:.0%}",
            flush=True,
        )
    cap = capacity_at_slo(records, plan_slo(plan), f"{framework} x{plan.replicas}")
    per_pod = cap.capacity_per_pod_rps.value
    total = None if per_pod is None else float(per_pod) * plan.replicas
    return {
        "framework": framework,
        "pods": plan.replicas,
        "capacity_total_rps": total,
        "capacity_step": cap.capacity_step.record.step if cap.capacity_step else None,
        "warnings": list(cap.warnings),
        "steps": len(records),
        "measurements": str(measurements),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", default="django,fastapi")
    parser.add_argument("--scenario", default="db-read")
    parser.add_argument("--cpu", default="250m", help="pod CPU limit (small: 2 pods must fit)")
    parser.add_argument("--memory", default="256Mi")
    parser.add_argument("--step-duration", type=float, default=10.0)
    parser.add_argument("--slo-p95-ms", type=float, default=100.0)
    parser.add_argument("--out", type=Path, default=None, help="where the JSONL files go")
    parser.add_argument("--quiet", action="store_true", help="no start-up log lines")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="fwcap-scaling-"))
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs "
        f"({platform.processor() or 'unknown model'}), kernel {platform.release()}, "
        f"load average at start {os.getloadavg()[0]:.2f}; pods {args.cpu} / {args.memory}; "
        f"scenario {args.scenario}; SLO p95 <= {args.slo_p95_ms:g} ms",
        flush=True,
    )
    results = []
    failed = False
    for framework in args.frameworks.split(","):
        by_pods: dict[int, dict[str, object]] = {}
        for replicas in (1, 2):
            plan = build_plan(
                cli={
                    "frameworks": [framework], "scenarios": [args.scenario], "cpu": args.cpu,
                    "memory": args.memory, "replicas": replicas,
                    "step_duration_s": args.step_duration, "warmup_s": 8,
                    "ladder": FINE_LADDER, "max_steps": 16, "stop_after_failures": 2,
                    "slo_p95_ms": args.slo_p95_ms,
                }
            )  # fmt: skip
            print(f"  {framework}: {replicas} pod(s) ...", flush=True)
            started = time.monotonic()
            by_pods[replicas] = measure(plan, out, not args.quiet)
            by_pods[replicas]["wall_s"] = round(time.monotonic() - started, 1)
            print(
                f"    capacity at SLO: {by_pods[replicas]['capacity_total_rps']} req/s", flush=True
            )
        one, two = by_pods[1]["capacity_total_rps"], by_pods[2]["capacity_total_rps"]
        ratio = None if not one or not two else float(two) / (2 * float(one))  # type: ignore[arg-type]
        ok = ratio is not None and abs(ratio - 1) <= TOLERANCE
        failed |= not ok
        results.append({"framework": framework, "one_pod": by_pods[1], "two_pods": by_pods[2],
                        "ratio_2pods_over_2x1pod": ratio, "within_tolerance": ok})  # fmt: skip
        shown = "n/a" if ratio is None else f"{ratio:.3f}"
        print(
            f"  {framework}: 1 pod {one} req/s, 2 pods {two} req/s, 2 pods / (2 x 1 pod) = "
            f"{shown} -> {'OK' if ok else 'OUTSIDE'} +/-{TOLERANCE:.0%}",
            flush=True,
        )
    (out / "scaling.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"details: {out / 'scaling.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
