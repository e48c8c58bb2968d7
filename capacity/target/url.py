"""The URL target: an already running system reached by the URLs the user gives.

`capacity report --prometheus-url URL --locust-url URL --namespace NS` measures whatever those
serve: an existing Prometheus (bundled or kube-prometheus-stack) and a Locust master reached
through an ingress or a port-forward the user holds open. Nothing is started or scaled; the
pods under test are the service targets Prometheus scrapes in NS (told apart by their labels,
capacity/target/k8s/scrape.py), and their scrape addresses are the URLs the Locust master
sends load to (a pod's IP from inside the cluster, 127.0.0.1 for the local stack).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal

import httpx

from capacity import interrupts
from capacity.errors import ConfigError, TargetError
from capacity.load.driver import LocustMaster
from capacity.metrics.client import connect
from capacity.plan import Plan
from capacity.target.base import Endpoints, PodInfo, StepInstruments
from capacity.target.k8s.profile import (
    ClusterTiming,
    cluster_details,
    describe_timing,
    fit_to_prometheus,
)
from capacity.target.k8s.retry import RetryingPrometheus
from capacity.target.k8s.scrape import ScrapeTarget, wait_for_kit_targets

log = logging.getLogger(__name__)

CHECK_EVERY_S = 5.0  # check_pods runs every 0.25 s in the run loop; Prometheus needs less
# A pod at its knee can miss a scrape (timeout) and still be up: fail after this many checks.
DOWN_CHECKS = 3
# A scrape that timed out ("context deadline exceeded") is a pod too busy to answer /metrics in
# time, as in an overloaded step, not a pod that is gone: it may last a whole step and its drain.
BUSY_CHECKS = 12


def check_url(flag: str, url: str | None) -> str:
    if not url or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{flag} {url!r} is not an http(s) URL; give e.g. http://127.0.0.1:9090")
    return url.rstrip("/")


# A refused connection or an unknown host is an answer: it is tried for this long (a port-forward
# being opened) and then reported. No answer at all (a slow endpoint) is waited for longer.
REFUSED_FOR_S = 3.0
NO_ANSWER_FOR_S = 60.0


def wait_reachable(
    flag: str,
    url: str,
    *,
    refused_for_s: float = REFUSED_FOR_S,
    timeout_s: float = NO_ANSWER_FOR_S,
    get: Callable[[str], object] | None = None,
) -> None:
    """Return once `url` answers HTTP at all (any status); fail fast when nothing listens there.

    Raises ConfigError (exit 2) naming the URL when its connections are refused or its host does
    not resolve for `refused_for_s`, TargetError when it accepts but does not answer in
    `timeout_s`; logs what it awaits every 5 s meanwhile.
    """
    fetch = get or (lambda u: httpx.get(u, timeout=httpx.Timeout(5.0, connect=2.0)))
    started = time.monotonic()
    refused_since: float | None = None
    said = started
    tries = 0
    while True:
        tries += 1
        try:
            fetch(url)
            return
        except httpx.ConnectError as e:
            now = time.monotonic()
            refused_since = refused_since or now
            if now - refused_since >= refused_for_s:
                raise ConfigError(
                    f"{flag} {url}: nothing answers there ({e}; {tries} tries over "
                    f"{now - started:.1f} s). Check the address and port, and that the "
                    "port-forward or ingress to it is running"
                ) from e
        except (httpx.TimeoutException, httpx.RemoteProtocolError) as e:
            refused_since = None
            now = time.monotonic()
            if now - started >= timeout_s:
                raise TargetError(
                    f"{flag} {url} accepts connections but gave no HTTP answer in "
                    f"{timeout_s:.0f} s ({type(e).__name__})"
                ) from e
            if now - said >= 5:
                log.info("waiting for %s at %s to answer (%.0f s so far)", flag, url, now - started)
                said = now
        interrupts.sleep(0.5)


class UrlTarget:
    """Context manager over a running system; `check_pods` watches its scrape targets."""

    kind: ClassVar[Literal["local", "kube"]] = "kube"

    def __init__(
        self,
        plan: Plan,
        *,
        step_given: bool = False,
        prometheus_url: str,
        locust_url: str,
        namespace: str,
        timeout_s: float = 60.0,
    ) -> None:
        self.plan = plan
        self.step_given = step_given
        self.frameworks = list(plan.frameworks)
        self.shape = plan.pod_shape()
        self.effective_plan: Plan | None = None
        self.timing: ClusterTiming | None = None
        self.prometheus_url = check_url("--prometheus-url", prometheus_url)
        self.locust_url = check_url("--locust-url", locust_url)
        self.namespace = namespace
        self.timeout_s = timeout_s
        self.targets: list[ScrapeTarget] = []
        self._checked_s = 0.0
        self._down_checks = 0

    def __enter__(self) -> Endpoints:
        master = LocustMaster(self.locust_url)
        try:
            master.wait_ready(self.plan.locust_workers, timeout_s=self.timeout_s)
        finally:
            master.close()
        want = {fw: self.plan.replicas for fw in self.frameworks}
        self.targets = wait_for_kit_targets(
            self.prometheus_url, self.namespace, self.frameworks, want, timeout_s=self.timeout_s
        )
        prom = RetryingPrometheus(connect(self.prometheus_url))
        self.timing, self.effective_plan = fit_to_prometheus(
            self.plan,
            prom,
            self.namespace,
            [t.scrape_interval for t in self.targets],
            step_given=self.step_given,
        )
        log.info("%s", describe_timing(self.timing, self.effective_plan))
        pods = [
            PodInfo(
                name=t.pod or t.base_url,
                framework=t.role.split(":", 1)[1],
                base_url=t.base_url,
                pid=None,
                cgroup=None,
                cpu_limit_millicores=self.shape.cpu_millicores,
                memory_limit_bytes=self.shape.memory_bytes,
                limits_enforced=True,
            )
            for t in self.targets
            if t.up and t.role.startswith("service:")
        ]
        log.info(
            "Prometheus %s, Locust %s; pods: %s",
            self.prometheus_url,
            self.locust_url,
            ", ".join(f"{p.name} ({p.base_url})" for p in pods),
        )
        return Endpoints(
            service_urls={
                fw: [p.base_url for p in pods if p.framework == fw] for fw in self.frameworks
            },
            prometheus_url=self.prometheus_url,
            locust_url=self.locust_url,
            namespace=self.namespace,
            pods=pods,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None  # nothing was started, so nothing is stopped

    def fitted_plan(self, plan: Plan) -> Plan:
        return self.effective_plan or plan

    def platform_details(self, plan: Plan) -> dict[str, Any]:
        return cluster_details(plan, self.timing, "url")

    def instruments(self, endpoints: Endpoints) -> AbstractContextManager[StepInstruments]:
        prom = RetryingPrometheus(connect(endpoints.prometheus_url))
        return contextlib.nullcontext(StepInstruments(prom=prom))

    def between_rounds(self) -> None:
        return None  # nothing here was started by the kit, so nothing is restarted

    def write_extras(self, out_dir: Path) -> None:
        return None  # no cluster API to read nodes from

    def check_pods(self) -> None:
        """Raise TargetError when a measured pod's scrape target went down (every 5 s at most)."""
        now = time.monotonic()
        if now - self._checked_s < CHECK_EVERY_S:
            return
        self._checked_s = now
        want = {
            fw: len([t for t in self.targets if t.role == f"service:{fw}" and t.up])
            for fw in self.frameworks
        }
        try:
            wait_for_kit_targets(
                self.prometheus_url, self.namespace, self.frameworks, want, timeout_s=0
            )
            self._down_checks = 0
        except TargetError as e:
            self._down_checks += 1
            limit = BUSY_CHECKS if "context deadline exceeded" in str(e) else DOWN_CHECKS
            if self._down_checks >= limit:
                raise TargetError(
                    f"a measured pod has not been scraped for {limit} checks "
                    f"({limit * CHECK_EVERY_S:.0f} s): {e}"
                ) from e
