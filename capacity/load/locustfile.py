"""fwcap load profiles: an open arrival model inside Locust, one user class per scenario.

Self-contained (imports only Locust, gevent and the standard library) because it also ships in
a ConfigMap to the in-cluster Locust master and workers. The kit's driver talks to the master's
web API only; it selects a scenario with `user_classes`, the pods with `host` and the step with
the `fwcap_*` arguments below, which the master forwards to its workers on every /swarm.

Scenarios (user class -> requests):
  db-read   DbRead    GET /api/items/{id}, id uniform in 1..10000
  list      List      GET /api/items?limit=20&offset=O, O uniform in 0..9980
  write     Write     POST /api/items with a valid random item
  stats     Stats     GET /api/stats (a join and a group-by over all orders)
  upstream  Upstream  GET /api/upstream?delay_ms=D (D = --fwcap-upstream-delay-ms, default 50)
  cpu       Cpu       GET /api/cpu?n=N (N = --fwcap-cpu-n, default 2000)
  mixed     Mixed     the above with weights db-read 44, list 20, write 10, upstream 15,
                      cpu 9, stats 2 (out of 100; see MIXED_WEIGHTS)

Open model (as wrk2 and k6's arrival-rate executors): each worker runs one user whose task is a
scheduler. Arrivals follow a Poisson process at --fwcap-offered-rps (total), drawn from
random.Random(--fwcap-seed), and each request's content is drawn from the same stream, so one
seed is one request sequence, whatever the framework. Every worker draws the whole sequence and
sends arrival i when i mod workers is its index, so the sequence does not depend on the worker
count either. Each arrival goes to a pod drawn uniformly at random from a second stream seeded
from the same seed (every worker draws it for every arrival, so they agree), as kube-proxy's
default iptables mode picks a Service endpoint at random: each pod then receives a Poisson
stream of its own (a random thinning of a Poisson process is Poisson). Dealing arrivals
round-robin would hand each of n pods a smoother stream (Erlang-n gaps) that queues less than
one pod's Poisson stream, so n pods would look more than n times as capable as one.
Each request runs in its own greenlet, up to
--fwcap-cap in flight (per worker); an arrival beyond the cap is dropped and counted as a
failure. Latency is timed from the arrival's *intended* send time, never from the late one, so
a stalled server cannot hide its stall (coordinated omission). The schedule runs on
time.monotonic(), so a wall-clock step (NTP) neither bunches nor starves arrivals; the wall-clock
times it reports (intended and completion seconds, compared with Prometheus timestamps) are
the monotonic ones shifted by one offset taken when the schedule starts.

Step tallies: requests whose intended time falls after --fwcap-settle-s from the schedule's
start are tallied under --fwcap-key (an empty key tallies nothing). A new key alone does not
restart the schedule (a step is extended by switching keys); a new rate or seed does. Workers
send their tallies with every report (once a second); the master sums them and serves them as
JSON at /fwcap/steps?key=K: scheduled, ok, failed, dropped, in_flight, first/last intended time
(wall clock) and a histogram of OK latencies in whole milliseconds (rounded up), plus:
  send_lag_ms  histogram (whole ms, rounded up) of how late each sent request left: from its
               intended time to just before the HTTP call. A large lag means the generator, not
               the server, was the bottleneck (a busy worker CPU, a starved event loop).
  slo_ms       --fwcap-slo-ms when the key was tallied (null: none given, on_time not counted).
  batches      {"<wall second>": [scheduled, on_time, completed_ok]} for the capacity fit:
               scheduled  arrivals whose intended time falls in that second (dropped included);
               on_time    OK responses within --fwcap-slo-ms of their intended time, counted in
                          the second of their intended time;
               completed_ok  OK responses counted in the second in which they *completed*, so
                          a run can count what the server finished inside a window.

The master also keeps each worker's latest count of requests in flight (all keys; each report
carries it) and serves GET /fwcap/state: {"in_flight": sum over the connected workers, "workers":
how many have reported, "reported_at": master wall clock of the oldest of those latest reports
(null before any)}, so the kit can wait until a step's queue has drained.

The master also serves its state for Prometheus at /export/prometheus on its web port:
fwcap_loadgen_offered_rps, fwcap_loadgen_step, fwcap_loadgen_users, fwcap_loadgen_current_rps
and fwcap_loadgen_fail_ratio, labelled {framework, scenario}.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import locust.runners
from flask import Response, jsonify, request
from locust import FastHttpUser, constant, events, task
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

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
# Workers report every second (Locust's default is 3 s) so a step's tally is complete soon
# after the step ends.
locust.runners.WORKER_REPORT_INTERVAL = 1.0


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _add_arguments(parser: Any) -> None:
    # Defaults fix each option's type: Locust casts /swarm form values to it.
    parser.add_argument("--fwcap-framework", type=str, default="", help="label: framework")
    parser.add_argument("--fwcap-scenario", type=str, default="", help="label: scenario")
    parser.add_argument(
        "--fwcap-step", type=int, default=-1, help="current step, 0-based (-1: warm-up)"
    )
    parser.add_argument(
        "--fwcap-offered-rps", type=float, default=0.0, help="arrival rate, req/s (total)"
    )
    parser.add_argument("--fwcap-seed", type=int, default=1, help="seed of the arrival sequence")
    parser.add_argument("--fwcap-key", type=str, default="", help="tally key ('' = none)")
    parser.add_argument(
        "--fwcap-cap", type=int, default=1000, help="most requests in flight per worker"
    )
    parser.add_argument(
        "--fwcap-settle-s", type=float, default=0.0, help="untallied start of a schedule, s"
    )
    parser.add_argument("--fwcap-workers", type=int, default=1, help="Locust worker count")
    parser.add_argument("--fwcap-upstream-delay-ms", type=int, default=50, help="upstream delay")
    parser.add_argument("--fwcap-cpu-n", type=int, default=2000, help="hash rounds of /api/cpu")
    parser.add_argument(
        "--fwcap-slo-ms", type=float, default=0.0, help="latency SLO of batches' on_time (0: none)"
    )


def _option(environment: Any, name: str, default: Any) -> Any:
    return (
        getattr(environment.parsed_options, name, default)
        if environment.parsed_options
        else default
    )


# -- tallies ------------------------------------------------------------------------------------


@dataclass
class Tally:
    scheduled: int = 0
    ok: int = 0
    failed: int = 0
    dropped: int = 0
    started: int = 0
    finished: int = 0
    first_intended_s: float | None = None
    last_intended_s: float | None = None
    latency_ms: dict[int, int] = field(default_factory=dict)
    send_lag_ms: dict[int, int] = field(default_factory=dict)
    slo_ms: float | None = None
    # wall second -> [scheduled, on_time, completed_ok] (see the module docstring)
    batches: dict[int, list[int]] = field(default_factory=dict)
    # request name -> [scheduled, over the SLO (late, failed or dropped)]: which requests the
    # late share is made of
    by_name: dict[str, list[int]] = field(default_factory=dict)

    def batch(self, second: int) -> list[int]:
        return self.batches.setdefault(second, [0, 0, 0])

    def merge(self, raw: dict[str, Any]) -> None:
        for name in ("scheduled", "ok", "failed", "dropped", "started", "finished"):
            setattr(self, name, getattr(self, name) + int(raw.get(name, 0)))
        for name, pick in (("first_intended_s", min), ("last_intended_s", max)):
            value, mine = raw.get(name), getattr(self, name)
            if value is not None:
                setattr(self, name, value if mine is None else pick(mine, value))
        for hist_name in ("latency_ms", "send_lag_ms"):
            hist = getattr(self, hist_name)
            for ms, n in raw.get(hist_name, {}).items():
                hist[int(ms)] = hist.get(int(ms), 0) + int(n)
        if raw.get("slo_ms") is not None:
            self.slo_ms = float(raw["slo_ms"])
        for second, counts in raw.get("batches", {}).items():
            mine = self.batch(int(second))
            for i, n in enumerate(counts):
                mine[i] += int(n)
        for name, counts in raw.get("by_name", {}).items():
            mine = self.by_name.setdefault(name, [0, 0])
            for i, n in enumerate(counts):
                mine[i] += int(n)

    def to_json(self) -> dict[str, Any]:
        return {
            "scheduled": self.scheduled,
            "ok": self.ok,
            "failed": self.failed,
            "dropped": self.dropped,
            "started": self.started,
            "finished": self.finished,
            "in_flight": self.started - self.finished,
            "first_intended_s": self.first_intended_s,
            "last_intended_s": self.last_intended_s,
            "latency_ms": {str(k): v for k, v in sorted(self.latency_ms.items())},
            "send_lag_ms": {str(k): v for k, v in sorted(self.send_lag_ms.items())},
            "slo_ms": self.slo_ms,
            "batches": {str(k): list(v) for k, v in sorted(self.batches.items())},
            "by_name": {k: list(v) for k, v in sorted(self.by_name.items())},
        }


_unreported: dict[str, Tally] = {}  # worker: since the last report
_totals: dict[str, Tally] = {}  # master (or a standalone runner): everything received
# Requests in flight in this process, all keys and users: a user that stops (and so no longer
# owns the scheduler) leaves its requests running, and a drained queue must count them.
_in_flight_now = 0
# master: client_id -> (requests in flight at its latest report, master wall clock of it)
_worker_in_flight: dict[str, tuple[int, float]] = {}


def _tally(environment: Any, key: str) -> Tally:
    store = _unreported if isinstance(environment.runner, WorkerRunner) else _totals
    return store.setdefault(key, Tally())


@events.report_to_master.add_listener  # type: ignore[untyped-decorator]
def _send_tallies(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    data["fwcap_tallies"] = {k: t.to_json() for k, t in _unreported.items()}
    data["fwcap_in_flight_now"] = _in_flight_now
    _unreported.clear()


@events.worker_report.add_listener  # type: ignore[untyped-decorator]
def _receive_tallies(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    for key, raw in (data.get("fwcap_tallies") or {}).items():
        _totals.setdefault(key, Tally()).merge(raw)
    if "fwcap_in_flight_now" in data:
        # Stamped with the master's clock: the one clock all workers' reports are compared on.
        _worker_in_flight[client_id] = (int(data["fwcap_in_flight_now"]), time.time())


def loadgen_state(environment: Any) -> dict[str, Any]:
    """/fwcap/state: requests in flight now over all workers (see the module docstring)."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        # Standalone: this process sends the requests itself, so its count is current.
        return {"in_flight": _in_flight_now, "workers": 0, "reported_at": time.time()}
    # A worker that quit is no longer in clients: its last count must not linger. One that
    # went missing stays, with its stale time showing in reported_at.
    latest = [v for cid, v in list(_worker_in_flight.items()) if cid in runner.clients]
    return {
        "in_flight": sum(n for n, _ in latest),
        "workers": len(latest),
        "reported_at": min((t for _, t in latest), default=None),
    }


# -- the open arrival model ---------------------------------------------------------------------


class Dropped(Exception):
    """An arrival found the in-flight cap reached: it is never sent and counts as a failure."""


Request = tuple[str, str, str, dict[str, Any] | None]  # method, path, name, JSON body


_scheduler_owner: Any = None


class PodUser(FastHttpUser):
    """One per worker: a scheduler that sends each arrival in its own greenlet."""

    abstract = True
    wait_time = constant(0)
    network_timeout = 10.0
    connection_timeout = 5.0
    # The pool must never be what limits requests in flight: --fwcap-cap is.
    concurrency = 4000

    def __init__(self, environment: Any) -> None:
        self.hosts = [
            h.strip() for h in (environment.host or self.host or "").split(",") if h.strip()
        ]
        if self.hosts:
            self.host = self.hosts[0]
        super().__init__(environment)
        self.in_flight = 0

    # -- what a scenario sends (drawn from the seeded stream) ----------------------------------

    def pick(self, rng: random.Random) -> Request:  # pragma: no cover - abstract
        raise NotImplementedError

    def db_read(self, rng: random.Random) -> Request:
        return "GET", f"/api/items/{rng.randint(1, ITEMS)}", "/api/items/{id}", None

    def list_items(self, rng: random.Random) -> Request:
        offset = rng.randint(0, ITEMS - 20)
        return "GET", f"/api/items?limit=20&offset={offset}", "/api/items", None

    def write(self, rng: random.Random) -> Request:
        body = {
            "name": f"load-{rng.getrandbits(32):08x}",
            "price": f"{rng.randint(0, 99_999) / 100:.2f}",
            "category": f"category-{rng.randint(1, CATEGORIES):02d}",
        }
        return "POST", "/api/items", "/api/items [POST]", body

    def stats(self, rng: random.Random) -> Request:
        return "GET", "/api/stats", "/api/stats", None

    def upstream(self, rng: random.Random) -> Request:
        delay_ms = _option(self.environment, "fwcap_upstream_delay_ms", 50)
        return "GET", f"/api/upstream?delay_ms={delay_ms}", "/api/upstream", None

    def cpu(self, rng: random.Random) -> Request:
        n = _option(self.environment, "fwcap_cpu_n", 2000)
        return "GET", f"/api/cpu?n={n}", "/api/cpu", None

    # -- the scheduler -------------------------------------------------------------------------

    def on_stop(self) -> None:
        global _scheduler_owner
        if _scheduler_owner is self:
            _scheduler_owner = None

    @task
    def schedule(self) -> None:
        # One scheduler per worker, whatever the user count: the rate is the worker's share of
        # the step's arrivals, not per user (extra users idle).
        global _scheduler_owner
        owner = _scheduler_owner
        alive = owner is not None and not getattr(getattr(owner, "_greenlet", None), "dead", True)
        if alive and owner is not self:
            gevent.sleep(0.5)
            return
        _scheduler_owner = self
        env = self.environment
        runner = env.runner
        worker_index = max(0, int(getattr(runner, "worker_index", 0) or 0))
        current: tuple[float, int, str] | None = None
        hosts = self.hosts
        rng = random.Random()
        pod_rng = random.Random()
        # Scheduled on the monotonic clock; wall = mono + wall_offset_s for what is reported.
        start_s = next_s = wall_offset_s = 0.0
        arrival = 0
        while True:
            rate = float(_option(env, "fwcap_offered_rps", 0.0) or 0.0)
            seed = int(_option(env, "fwcap_seed", 1))
            if rate <= 0:
                current = None
                gevent.sleep(0.05)
                continue
            if current != (rate, seed, env.host or ""):
                # A new rate, seed or set of pods starts a new schedule (and its settle period).
                # Its connections are the pool's: the ones an overloaded step opened stay open
                # (docs/local-run.md, "Two more series"; closing them per step was tried and
                # undone).
                current = (rate, seed, env.host or "")
                hosts = [h.strip() for h in current[2].split(",") if h.strip()] or self.hosts
                rng = random.Random(seed)
                pod_rng = random.Random(f"pods:{seed}")
                start_s = time.monotonic()
                wall_offset_s = time.time() - start_s
                next_s = start_s + rng.expovariate(rate)
                arrival = 0
            now = time.monotonic()
            if next_s > now:
                gevent.sleep(min(next_s - now, 0.05))
                continue
            req = self.pick(rng)
            pod = pod_rng.randrange(len(hosts)) if len(hosts) > 1 else 0
            workers = max(1, int(_option(env, "fwcap_workers", 1)))
            if arrival % workers == worker_index:
                key = str(_option(env, "fwcap_key", ""))
                settle_s = float(_option(env, "fwcap_settle_s", 0.0))
                cap = max(1, int(_option(env, "fwcap_cap", 1000)))
                host = hosts[pod] if hosts else ""
                tallied = key if key and next_s >= start_s + settle_s else ""
                self._dispatch(host, req, next_s, wall_offset_s, tallied, cap)
            arrival += 1
            next_s += rng.expovariate(rate)

    def _tally(self, key: str) -> Tally | None:
        # Looked up at every event: a worker's report hands its tallies over and starts anew.
        if not key:
            return None
        tally = _tally(self.environment, key)
        # Every report of the key carries the SLO its on_time counts were judged against.
        slo_ms = float(_option(self.environment, "fwcap_slo_ms", 0.0) or 0.0)
        tally.slo_ms = slo_ms if slo_ms > 0 else None
        return tally

    def _dispatch(
        self, host: str, req: Request, intended_s: float, wall_offset_s: float, key: str, cap: int
    ) -> None:
        """`intended_s` is monotonic; `+ wall_offset_s` makes it wall clock."""
        method, _path, name, _body = req
        tally = self._tally(key)
        if tally is not None:
            intended_wall_s = intended_s + wall_offset_s
            tally.scheduled += 1
            if tally.first_intended_s is None:
                tally.first_intended_s = intended_wall_s
            tally.last_intended_s = intended_wall_s
            tally.batch(math.floor(intended_wall_s))[0] += 1
            tally.by_name.setdefault(name, [0, 0])[0] += 1
        if self.in_flight >= cap:
            if tally is not None:
                tally.dropped += 1
                tally.by_name[name][1] += 1
            self.environment.events.request.fire(
                request_type=method, name=name, response_time=0, response_length=0,
                response=None, context={}, exception=Dropped(f"in-flight cap {cap} reached"),
            )  # fmt: skip
            return
        global _in_flight_now
        self.in_flight += 1
        _in_flight_now += 1
        if tally is not None:
            tally.started += 1
        gevent.spawn(self._send, host, req, intended_s, wall_offset_s, key)

    def _send(
        self, host: str, req: Request, intended_s: float, wall_offset_s: float, key: str
    ) -> None:
        global _in_flight_now
        method, path, name, body = req
        ok = False
        try:
            # Taken last before the call: all of the generator's own delay (greenlet start, a
            # busy hub) is in the lag, none of the server's.
            lag_s = time.monotonic() - intended_s
            tally = self._tally(key)
            if tally is not None:
                lag_ms = max(0, math.ceil(lag_s * 1000.0))
                tally.send_lag_ms[lag_ms] = tally.send_lag_ms.get(lag_ms, 0) + 1
            with self.client.request(
                method, host + path, name=name, json=body, catch_response=True
            ) as resp:
                # Time from the intended send, so waiting for the server is never hidden.
                elapsed_ms = (time.monotonic() - intended_s) * 1000.0
                resp.request_meta["response_time"] = elapsed_ms
                status = resp.status_code or 0
                ok = 200 <= status < 400
                if ok:
                    resp.success()
                else:
                    resp.failure(f"HTTP {status}")
        finally:
            done_s = time.monotonic()
            self.in_flight -= 1
            _in_flight_now -= 1
            tally = self._tally(key)
            if tally is not None:
                tally.finished += 1
                on_time = False
                if ok:
                    tally.ok += 1
                    ms = max(0, math.ceil((done_s - intended_s) * 1000.0))
                    tally.latency_ms[ms] = tally.latency_ms.get(ms, 0) + 1
                    tally.batch(math.floor(done_s + wall_offset_s))[2] += 1
                    # On the rounded-up ms, as ClientStep.over_slo judges the histogram, so the
                    # per-second counts and the step's total agree.
                    if tally.slo_ms is not None and ms <= tally.slo_ms:
                        tally.batch(math.floor(intended_s + wall_offset_s))[1] += 1
                        on_time = True
                else:
                    tally.failed += 1
                if not on_time:
                    tally.by_name.setdefault(name, [0, 0])[1] += 1


class DbRead(PodUser):
    def pick(self, rng: random.Random) -> Request:
        return self.db_read(rng)


class List(PodUser):
    def pick(self, rng: random.Random) -> Request:
        return self.list_items(rng)


class Write(PodUser):
    def pick(self, rng: random.Random) -> Request:
        return self.write(rng)


class Stats(PodUser):
    def pick(self, rng: random.Random) -> Request:
        return self.stats(rng)


class Upstream(PodUser):
    def pick(self, rng: random.Random) -> Request:
        return self.upstream(rng)


class Cpu(PodUser):
    def pick(self, rng: random.Random) -> Request:
        return self.cpu(rng)


# The headline mix (weights out of 100): reads dominate, as in most CRUD APIs; writes, outbound
# calls, some CPU-bound work and a rare aggregation make up the rest. The aggregation is 2%, not
# more: it is slow on its own (a join over every order), and a p95 SLO over a mix in which 5% of
# requests are slow at any load would measure that endpoint, not the pod's capacity.
MIXED_WEIGHTS = {"db_read": 44, "list_items": 20, "write": 10, "upstream": 15, "cpu": 9,
                 "stats": 2}  # fmt: skip


class Mixed(PodUser):
    def pick(self, rng: random.Random) -> Request:
        (choice,) = rng.choices(list(MIXED_WEIGHTS), weights=list(MIXED_WEIGHTS.values()))
        return getattr(self, choice)(rng)  # type: ignore[no-any-return]


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

    @environment.web_ui.app.route("/fwcap/steps")  # type: ignore[untyped-decorator]
    def fwcap_steps() -> Response:
        keys = request.args.getlist("key") or list(_totals)
        return jsonify({k: _totals[k].to_json() if k in _totals else Tally().to_json()
                        for k in keys})  # fmt: skip

    @environment.web_ui.app.route("/fwcap/state")  # type: ignore[untyped-decorator]
    def fwcap_state() -> Response:
        return jsonify(loadgen_state(environment))
