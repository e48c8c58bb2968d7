"""The target interface: where the measured pods run, as the rest of the pipeline sees it.

A target is a context manager. Entering it starts (local) or reaches (cluster) everything a run
needs and returns `Endpoints`; leaving it stops and removes everything it started, also on error
and on Ctrl-C. Between steps the runner calls `check_pods()`, which raises `TargetError` naming
a pod that died, with its log tail. What differs between targets beyond that (the plan fitted
to a cluster's timing, the platform described, the per-step instruments) is asked of the
target by the one driver, `capacity.measure.measure`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from capacity.metrics.client import PromQuery
    from capacity.plan import Plan
    from capacity.target.cpuspeed import ProbeReading
    from capacity.target.hostcpu import HostSample

# The one pod shape, shared with the plan and the model; targets are built with it.
from capacity.pod_shape import PodShape as PodShape

# The cAdvisor `namespace` label every local series carries.
LOCAL_NAMESPACE = "local"


@dataclass(frozen=True)
class PodInfo:
    """One running pod of a framework."""

    name: str  # e.g. "django-0": the `pod` label of its series
    framework: str  # "django" | "fastapi": the `container` and `app` label
    base_url: str  # http://127.0.0.1:<port>
    pid: int | None  # the server's main process (local only)
    cgroup: str | None  # the pod's cgroup path relative to the hierarchy (local, enforced only)
    cpu_limit_millicores: int
    memory_limit_bytes: int
    limits_enforced: bool


@dataclass(frozen=True)
class Endpoints:
    """What a started target offers to the load driver and the metrics client."""

    service_urls: dict[str, list[str]]  # framework -> base URLs of its pods (or one Service URL)
    prometheus_url: str
    locust_url: str
    namespace: str
    pods: list[PodInfo] = field(default_factory=list)
    grafana_url: str | None = None  # the kit's dashboards, when a Grafana is running
    locust_auth: tuple[str, str] | None = None  # Basic auth of the in-cluster master's web API

    def pods_of(self, framework: str) -> list[PodInfo]:
        return [p for p in self.pods if p.framework == framework]

    @property
    def limits_enforced(self) -> bool:
        return bool(self.pods) and all(p.limits_enforced for p in self.pods)


@dataclass
class StepInstruments:
    """What a target measures around each step besides Prometheus (None: not on this target)."""

    prom: PromQuery | None = None  # the Prometheus client the run uses (None: a plain one)
    host_cpu: Callable[[], HostSample | None] | None = None  # other cores, PostgreSQL, pod core
    cpu_probe: Callable[[], ProbeReading | None] | None = None  # core speed, before each step
    # The same probe on the cores that serve the pods (database, upstream, generator).
    support_probe: Callable[[], ProbeReading | None] | None = None
    # Every pod's cumulative CPU-seconds, for the request-cost probe (capacity/target/
    # requestcost.py) the run makes before each step.
    pods_cpu_s: Callable[[], float | None] | None = None


class Target(Protocol):
    """What `capacity.measure` needs from a target (local processes or a cluster)."""

    @property
    def kind(self) -> Literal["local", "kube"]:
        """The `target` every measurement record carries."""
        ...

    def __enter__(self) -> Endpoints: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def check_pods(self) -> None:
        """Raise `TargetError` naming the first pod (or helper process) that is no longer up."""
        ...

    def fitted_plan(self, plan: Plan) -> Plan:
        """The plan as this target can run it (a cluster's scrape and cAdvisor timing)."""
        ...

    def platform_details(self, plan: Plan) -> dict[str, Any]:
        """platform.json: where the pods ran and how (read once the target is entered)."""
        ...

    def instruments(self, endpoints: Endpoints) -> AbstractContextManager[StepInstruments]:
        """The per-step instruments, started for the run and stopped after it."""
        ...

    def between_rounds(self) -> None:
        """Before each later round of a run: fresh pod processes where the target can start
        them (locally); a cluster's pods are left as they are."""
        ...

    def write_extras(self, out_dir: Path) -> None:
        """Files beside the measurements that only this target can read (e.g. its nodes)."""
        ...


class StopsOnExit:
    """`with target:` ends in the target's own `stop()`, however the block ends."""

    def stop(self) -> None:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
