"""fwcap load profiles: one Locust user class per scenario, paced to a fixed request rate.

Self-contained (imports only Locust and the standard library) because it also ships in a
ConfigMap to the in-cluster Locust master and workers. The kit's driver talks to the master's
web API only; it selects a scenario with `user_classes`, the pods with `host` and the pace with
the `fwcap_*` arguments below, which the master forwards to its workers on every /swarm.

Scenarios (user class -> requests):
  db-read   DbRead    GET /api/items/{id}, id uniform in 1..10000
  list      List      GET /api/items?limit=20&offset=O, O uniform in 0..9980
  write     Write     POST /api/items with a valid random item
  stats     Stats     GET /api/stats (a join and a group-by over all orders)
  upstream  Upstream  GET /api/upstream?delay_ms=D (D = --fwcap-upstream-delay-ms, default 50)
  cpu       Cpu       GET /api/cpu?n=N (N = --fwcap-cpu-n, default 2000)
  mixed     Mixed     the above with weights db-read 40, list 20, write 10, stats 5,
                      upstream 15, cpu 10 (out of 100)

Pacing: every user runs one request per task and starts its tasks 1/fwcap_user_rps seconds
apart (Locust's constant_pacing, read live so a new step needs no restart), so the offered rate
is users x fwcap_user_rps. A slow response delays the user (closed loop), which is why the
driver checks achieved against offered. fwcap_user_rps = 0 means no pause (the warm-up).

Pods: `host` may carry several comma-separated base URLs (local pods); user i of a worker talks
to pod (i + worker index) mod n for its whole life, as a kept-alive connection through a
Kubernetes Service stays on one pod. In a cluster `host` is the one Service URL.

The master serves its state for Prometheus at /export/prometheus on its web port:
fwcap_loadgen_offered_rps, fwcap_loadgen_step, fwcap_loadgen_users, fwcap_loadgen_current_rps
and fwcap_loadgen_fail_ratio, labelled {framework, scenario}.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

from flask import Response
from locust import FastHttpUser, events, task
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner

SCENARIO_CLASSES = {
    "db-read": "DbRead",
    "list": "List",
    "write": "Write",
    "stats": "Stats",
    "upstream": "Upstream",
    "cpu": "Cpu",
    "mixed": "Mixed",
}
ITEMS = 10_000
CATEGORIES = 50


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _add_arguments(parser: Any) -> None:
    # Defaults fix each option's type: Locust casts /swarm form values to it.
    parser.add_argument("--fwcap-framework", type=str, default="", help="label: framework")
    parser.add_argument("--fwcap-scenario", type=str, default="", help="label: scenario")
    parser.add_argument(
        "--fwcap-step", type=int, default=-1, help="current step, 0-based (-1: warm-up)"
    )
    parser.add_argument(
        "--fwcap-offered-rps", type=float, default=0.0, help="offered req/s (export)"
    )
    parser.add_argument(
        "--fwcap-user-rps", type=float, default=0.0, help="req/s per user; 0: no pause"
    )
    parser.add_argument("--fwcap-upstream-delay-ms", type=int, default=50, help="upstream delay")
    parser.add_argument("--fwcap-cpu-n", type=int, default=2000, help="hash rounds of /api/cpu")


def _option(environment: Any, name: str, default: Any) -> Any:
    return (
        getattr(environment.parsed_options, name, default)
        if environment.parsed_options
        else default
    )


_user_seq = itertools.count()


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def _reset_user_sequence(**_kwargs: Any) -> None:
    global _user_seq
    _user_seq = itertools.count()


def paced(user: Any) -> float:
    """Seconds to wait so that this user's task starts are 1/fwcap_user_rps apart."""
    rate = float(_option(user.environment, "fwcap_user_rps", 0.0) or 0.0)
    now = time.monotonic()
    if rate <= 0:
        user._fwcap_next_start = now
        return 0.0
    period = 1.0 / rate
    last = getattr(user, "_fwcap_next_start", None)
    # First wait: a random phase, so users spawned together do not fire in lockstep.
    due = now + random.random() * period if last is None else last + period
    start = max(due, now)
    user._fwcap_next_start = start
    return start - now


class PodUser(FastHttpUser):
    abstract = True
    wait_time = paced
    network_timeout = 10.0
    connection_timeout = 5.0

    def __init__(self, environment: Any) -> None:
        hosts = [h.strip() for h in (environment.host or self.host or "").split(",") if h.strip()]
        if hosts:
            worker_index = max(0, int(getattr(environment.runner, "worker_index", 0) or 0))
            self.host = hosts[(next(_user_seq) + worker_index) % len(hosts)]
        super().__init__(environment)

    def db_read(self) -> None:
        self.client.get(f"/api/items/{random.randint(1, ITEMS)}", name="/api/items/{id}")

    def list_items(self) -> None:
        self.client.get(
            f"/api/items?limit=20&offset={random.randint(0, ITEMS - 20)}", name="/api/items"
        )

    def write(self) -> None:
        body = {
            "name": f"load-{random.getrandbits(32):08x}",
            "price": f"{random.randint(0, 99_999) / 100:.2f}",
            "category": f"category-{random.randint(1, CATEGORIES):02d}",
        }
        self.client.post("/api/items", json=body, name="/api/items [POST]")

    def stats(self) -> None:
        self.client.get("/api/stats")

    def upstream(self) -> None:
        delay_ms = _option(self.environment, "fwcap_upstream_delay_ms", 50)
        self.client.get(f"/api/upstream?delay_ms={delay_ms}", name="/api/upstream")

    def cpu(self) -> None:
        n = _option(self.environment, "fwcap_cpu_n", 2000)
        self.client.get(f"/api/cpu?n={n}", name="/api/cpu")


class DbRead(PodUser):
    @task
    def request(self) -> None:
        self.db_read()


class List(PodUser):
    @task
    def request(self) -> None:
        self.list_items()


class Write(PodUser):
    @task
    def request(self) -> None:
        self.write()


class Stats(PodUser):
    @task
    def request(self) -> None:
        self.stats()


class Upstream(PodUser):
    @task
    def request(self) -> None:
        self.upstream()


class Cpu(PodUser):
    @task
    def request(self) -> None:
        self.cpu()


class Mixed(PodUser):
    @task(40)
    def mixed_db_read(self) -> None:
        self.db_read()

    @task(20)
    def mixed_list(self) -> None:
        self.list_items()

    @task(10)
    def mixed_write(self) -> None:
        self.write()

    @task(5)
    def mixed_stats(self) -> None:
        self.stats()

    @task(15)
    def mixed_upstream(self) -> None:
        self.upstream()

    @task(10)
    def mixed_cpu(self) -> None:
        self.cpu()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(environment: Any) -> str:
    """The master's gauges in the Prometheus text format (0 offered when no load runs)."""
    runner = environment.runner
    running = runner is not None and runner.state in (STATE_RUNNING, STATE_SPAWNING)
    framework = str(_option(environment, "fwcap_framework", ""))
    scenario = str(_option(environment, "fwcap_scenario", ""))
    labels = f'{{framework="{_label(framework)}",scenario="{_label(scenario)}"}}'
    total = runner.stats.total if runner is not None else None
    values = {
        "fwcap_loadgen_offered_rps": _option(environment, "fwcap_offered_rps", 0.0)
        if running
        else 0.0,
        "fwcap_loadgen_step": _option(environment, "fwcap_step", -1) if running else -1,
        "fwcap_loadgen_users": runner.user_count if running else 0,
        "fwcap_loadgen_current_rps": total.current_rps if (running and total) else 0.0,
        "fwcap_loadgen_fail_ratio": total.fail_ratio if (running and total) else 0.0,
    }
    helps = {
        "fwcap_loadgen_offered_rps": "Requests/s the generator offers in the current step.",
        "fwcap_loadgen_step": "Current load step, 0-based (-1: warm-up or idle).",
        "fwcap_loadgen_users": "Running Locust users.",
        "fwcap_loadgen_current_rps": "Requests/s Locust currently sees (its own sliding window).",
        "fwcap_loadgen_fail_ratio": "Failed / all requests since the last stats reset.",
    }
    lines: list[str] = []
    for name, value in values.items():
        lines += [
            f"# HELP {name} {helps[name]}",
            f"# TYPE {name} gauge",
            f"{name}{labels} {float(value)}",
        ]
    if isinstance(runner, MasterRunner):
        workers = (
            len(runner.clients.ready) + len(runner.clients.running) + len(runner.clients.spawning)
        )
        lines += [
            "# HELP fwcap_loadgen_workers Connected Locust workers.",
            "# TYPE fwcap_loadgen_workers gauge",
            f"fwcap_loadgen_workers {float(workers)}",
        ]
    return "\n".join(lines) + "\n"


@events.init.add_listener  # type: ignore[untyped-decorator]
def _serve_exposition(environment: Any, **_kwargs: Any) -> None:
    if environment.web_ui is None:
        return

    @environment.web_ui.app.route("/export/prometheus")  # type: ignore[untyped-decorator]
    def export_prometheus() -> Response:
        return Response(exposition(environment), mimetype="text/plain; version=0.0.4")
