"""The deployed target: the pods `pulumi up` deployed, reached through the Kubernetes API.

Entering `KubeTarget` (before any load): reads the stack's outputs (namespace, in-cluster URLs),
scales each framework's Deployment to the plan's pods with its HPA pinned, and the Locust workers
to the plan's workers; waits until they are ready; opens port-forwards to the in-cluster
Prometheus and Locust master (unless their URLs are given); waits until Prometheus scrapes every
measured pod, cAdvisor and the load generator (by labels); and fits the plan to the cAdvisor
refresh it measures. Leaving it (success, error, Ctrl-C) closes the port-forwards and restores
every Deployment's replicas and HPA. The run loop sees the same `Endpoints` as for local pods;
the service URLs are the pods' own IPs, which the in-cluster Locust master reaches directly.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from kubernetes import client

from capacity.errors import TargetError
from capacity.interrupts import signals_deferred
from capacity.load.driver import LocustMaster
from capacity.metrics.client import connect
from capacity.model.own_nodes import CLUSTER_NODES_FILE
from capacity.plan import Plan
from capacity.quantity import format_cpu, format_memory, parse_cpu_millicores, parse_memory_bytes
from capacity.target.base import Endpoints, PodInfo, StepInstruments, StopsOnExit
from capacity.target.k8s.kubeapi import KubeAccess, api_call, load_kube
from capacity.target.k8s.kubeapi import explain as api_call_error
from capacity.target.k8s.options import ClusterOptions
from capacity.target.k8s.portforward import PortForward
from capacity.target.k8s.profile import (
    ClusterTiming,
    cluster_details,
    describe_timing,
    fit_to_prometheus,
)
from capacity.target.k8s.retry import RetryingPrometheus
from capacity.target.k8s.scale import (
    COMPONENT,
    NAME,
    ORIGINAL_ANNOTATION,
    Scaler,
    pod_problem,
    selector_string,
)
from capacity.target.k8s.scrape import wait_for_kit_targets
from capacity.target.k8s.stack import StackOutputs
from capacity.target.url import UrlTarget

log = logging.getLogger(__name__)

SERVICE_COMPONENT = "service"
# deploy/locust.py's Secret holding the master's web API credentials (keys `user`, `password`).
LOCUST_WEB_AUTH_SECRET = "locust-web-auth"
LOCUST_WORKER = ("locust-worker", "locust-worker")  # (component, name) labels in deploy/locust.py
CHECK_EVERY_S = 5.0  # the run loop calls check_pods every 0.25 s; the API needs far less


@dataclass(frozen=True)
class DeployedLimits:
    """A container's limits as its pod template sets them (None: no limit set)."""

    cpu_millicores: int | None
    memory_bytes: int | None

    @property
    def enforced(self) -> bool:
        return self.cpu_millicores is not None and self.memory_bytes is not None


def container_limits(containers: Sequence[Any], name: str) -> DeployedLimits:
    """The limits of the container called `name` (the chart names it after the framework), or
    of the only container; Kubernetes quantities parsed here, once."""
    chosen = [c for c in containers if c.name == name] or (
        list(containers) if len(containers) == 1 else []
    )
    if not chosen:
        raise TargetError(
            f"the Deployment of {name} has no container named {name} among "
            f"{', '.join(c.name for c in containers)}: deploy it with this kit's chart"
        )
    limits = (chosen[0].resources.limits if chosen[0].resources else None) or {}
    cpu, memory = limits.get("cpu"), limits.get("memory")
    return DeployedLimits(
        cpu_millicores=None if cpu is None else parse_cpu_millicores(cpu),
        memory_bytes=None if memory is None else parse_memory_bytes(memory),
    )


def _quantity(value: int | None, fmt: Callable[[int], str]) -> str:
    return "none" if value is None else fmt(value)


def service_of(url: str, namespace: str) -> tuple[str, str, int]:
    """`http://prometheus.fwcap.svc:9090` -> ("prometheus", "fwcap", 9090): the Service to
    port-forward to; a bare `http://prometheus:9090` is in `namespace`. An existing
    kube-prometheus-stack lives in its own namespace, which its URL names."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise TargetError(f"stack output URL {url!r} has no host")
    labels = parts.hostname.split(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return labels[0], labels[1] if len(labels) > 1 else namespace, port


def _ready(pod: Any) -> bool:
    conditions = (pod.status.conditions or []) if pod.status else []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _restarts(pod: Any) -> int:
    statuses = (pod.status.container_statuses or []) if pod.status else []
    return sum(cs.restart_count or 0 for cs in statuses)


@dataclass
class KubeTarget(StopsOnExit):
    """Context manager: `with KubeTarget(...) as endpoints:` measures the deployed pods."""

    kind: ClassVar[Literal["local", "kube"]] = "kube"

    plan: Plan
    options: ClusterOptions
    outputs: StackOutputs | None
    step_given: bool = False
    access: KubeAccess | None = None
    ready_timeout_s: float = 300.0
    targets_timeout_s: float = 120.0
    # Filled in on entry:
    effective_plan: Plan | None = None
    timing: ClusterTiming | None = None
    namespace: str = ""
    worker_nodes_shared: list[str] = field(default_factory=list)
    _scaler: Scaler | None = None
    _forwards: list[PortForward] = field(default_factory=list)
    _deployments: dict[str, str] = field(default_factory=dict)
    _restarts: dict[str, int] = field(default_factory=dict)
    _checked_s: float = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Endpoints:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Close the port-forwards and restore every Deployment and HPA (idempotent)."""
        with signals_deferred():
            for pf in self._forwards:
                with contextlib.suppress(Exception):
                    pf.close()
            self._forwards.clear()
            if self._scaler is not None:
                problems = self._scaler.restore()
                if problems:
                    log.warning("could not restore: %s", "; ".join(problems))

    # -- what the driver asks of a target -----------------------------------------------------

    def fitted_plan(self, plan: Plan) -> Plan:
        return self.effective_plan or plan

    def platform_details(self, plan: Plan) -> dict[str, Any]:
        access = self.access
        return cluster_details(plan, self.timing, "kubernetes") | {
            "cluster": access.server if access else None,
            "context": access.context if access else None,
            "namespace": self.namespace,
            "load_generator_shares_node_with": ", ".join(self.worker_nodes_shared) or "none",
        }

    def instruments(self, endpoints: Endpoints) -> AbstractContextManager[StepInstruments]:
        prom = RetryingPrometheus(connect(endpoints.prometheus_url))
        return contextlib.nullcontext(StepInstruments(prom=prom))

    def between_rounds(self) -> None:
        return None  # the cluster's pods stay as deployed; a rollout would be a change

    def write_extras(self, out_dir: Path) -> None:
        """cluster-nodes.json: the nodes and daemonset requests, for the "this cluster" table."""
        from capacity.target.k8s.nodes import read_cluster_nodes

        if self.access is None:
            return
        try:
            nodes = read_cluster_nodes(self.access.api)
        except TargetError as e:  # sizing with this cluster is a bonus; the run goes on
            log.warning('no "this cluster" table: %s', e)
            return
        (out_dir / CLUSTER_NODES_FILE).write_text(json.dumps([asdict(n) for n in nodes], indent=2))

    # -- start-up ----------------------------------------------------------------------------

    def _start(self) -> Endpoints:
        opts, plan = self.options, self.plan
        access = self.access or load_kube(
            opts.kubeconfig, opts.context or (self.outputs.kube_context if self.outputs else None)
        )
        self.access = access
        self.namespace = opts.namespace or (self.outputs.namespace if self.outputs else "")
        if not self.namespace:
            raise TargetError("no namespace: give --stack or --namespace")
        ns = self.namespace
        log.info("cluster %s (context %s), namespace %s", access.server, access.context, ns)
        self._scaler = Scaler(access.api, ns)
        self._restore_leftovers()
        for fw in plan.frameworks:
            self._deployments[fw] = self._scaler.find(SERVICE_COMPONENT, fw)
        workers = self._scaler.find(*LOCUST_WORKER)
        # Everything is found before anything is changed: a missing Deployment changes nothing.
        for fw in plan.frameworks:
            self._scaler.scale(self._deployments[fw], plan.replicas, timeout_s=self.ready_timeout_s)
        self._scaler.scale(workers, plan.locust_workers, timeout_s=self.ready_timeout_s)
        pods = self._service_pods()
        self._check_worker_nodes(workers, pods)

        prometheus_url = opts.prometheus_url or self._forward(
            self.outputs.prometheus_url if self.outputs else "http://prometheus:9090"
        )
        locust_url = opts.locust_url or self._forward(
            self.outputs.locust_url if self.outputs else "http://locust-master:8089"
        )
        # The stack's credentials open the master it deployed; a --locust-url carries its own
        # (user:password@host) or needs none.
        locust_auth = None if opts.locust_url else self._locust_auth()
        master = LocustMaster(locust_url, auth=locust_auth)
        try:
            master.wait_ready(plan.locust_workers, timeout_s=self.targets_timeout_s)
        finally:
            master.close()
        want = {fw: plan.replicas for fw in plan.frameworks}
        targets = wait_for_kit_targets(
            prometheus_url, ns, plan.frameworks, want, timeout_s=self.targets_timeout_s
        )
        self._fit_plan(prometheus_url, [t.scrape_interval for t in targets])
        limits = {fw: self._deployed_limits(fw) for fw in pods}
        infos = [
            PodInfo(
                name=p.metadata.name,
                framework=fw,
                base_url=self._pod_url(p),
                pid=None,
                cgroup=None,
                cpu_limit_millicores=limits[fw].cpu_millicores or plan.cpu_millicores,
                memory_limit_bytes=limits[fw].memory_bytes or plan.memory_bytes,
                limits_enforced=limits[fw].enforced,
            )
            for fw, group in pods.items()
            for p in group
        ]
        self._restarts = {p.metadata.name: _restarts(p) for g in pods.values() for p in g}
        return Endpoints(
            service_urls={
                fw: [i.base_url for i in infos if i.framework == fw] for fw in plan.frameworks
            },
            prometheus_url=prometheus_url,
            locust_url=locust_url,
            namespace=ns,
            pods=infos,
            locust_auth=locust_auth,
        )

    def _deployed_limits(self, framework: str) -> DeployedLimits:
        """The limits the Deployment's pod template gives the framework's container: what the
        pods run with (the stack's `fwcap:cpu`/`fwcap:memory`), whatever the plan says. A
        difference from the plan is a warning, not an error: the records say what ran."""
        assert self._scaler is not None
        apps, name = self._scaler.apps, self._deployments[framework]
        found: Any = api_call(
            f"read deployments/{name}",
            self.namespace,
            lambda: apps.read_namespaced_deployment(name, self.namespace),
        )
        limits = container_limits(found.spec.template.spec.containers, framework)
        plan = self.plan
        wanted = (plan.cpu_millicores, plan.memory_bytes)
        if (limits.cpu_millicores, limits.memory_bytes) != wanted:
            log.warning(
                "deployments/%s runs its pods with CPU limit %s and memory limit %s, not the "
                "plan's %s and %s: the records carry the deployed limits (set fwcap:cpu and "
                "fwcap:memory in the stack, or --cpu/--memory, to make them agree)",
                name,
                _quantity(limits.cpu_millicores, format_cpu),
                _quantity(limits.memory_bytes, format_memory),
                format_cpu(plan.cpu_millicores),
                format_memory(plan.memory_bytes),
            )
        return limits

    def _restore_leftovers(self) -> None:
        """An earlier run that was killed left its records on the Deployments it scaled: put
        those back before this run measures anything (or stop, saying what to fix)."""
        assert self._scaler is not None
        leftovers = self._scaler.adopt_leftovers()
        if not leftovers:
            return
        log.warning(
            "an earlier run was stopped before it restored %s (annotation %s); restoring first",
            ", ".join(f"deployments/{d}" for d in leftovers),
            ORIGINAL_ANNOTATION,
        )
        problems = self._scaler.restore()
        if problems:
            raise TargetError(
                "could not restore what an earlier run left: "
                + "; ".join(problems)
                + f"; fix that, then `capacity restore --namespace {self.namespace}`"
            )

    def _locust_auth(self) -> tuple[str, str] | None:
        """The master's Basic credentials: the stack's outputs, else (no Pulumi) the Secret the
        program creates; None when neither exists (a master deployed without the auth plugin)."""
        if self.outputs is not None and self.outputs.locust_auth is not None:
            return self.outputs.locust_auth
        assert self.access is not None
        core = client.CoreV1Api(self.access.api)
        try:
            secret = core.read_namespaced_secret(LOCUST_WEB_AUTH_SECRET, self.namespace)
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise api_call_error(e, f"read Secret {LOCUST_WEB_AUTH_SECRET}", self.namespace) from e
        data = secret.data or {}
        try:
            user, password = (base64.b64decode(data[k]).decode() for k in ("user", "password"))
        except (KeyError, ValueError) as e:
            raise TargetError(
                f"Secret {LOCUST_WEB_AUTH_SECRET} in {self.namespace} lacks a usable user and "
                "password; redeploy with this kit's __main__.py, or give --locust-url"
            ) from e
        return user, password

    def _forward(self, in_cluster_url: str) -> str:
        assert self.access is not None
        service, namespace, port = service_of(in_cluster_url, self.namespace)
        pf = PortForward(self.access.api, namespace, service, port)
        pf.__enter__()
        self._forwards.append(pf)
        log.info(
            "port-forward %s -> service %s/%s:%d (pod port %d)",
            pf.url, namespace, service, port, pf.remote_port,
        )  # fmt: skip
        return pf.url

    def _fit_plan(self, prometheus_url: str, intervals: Sequence[str]) -> None:
        prom = RetryingPrometheus(connect(prometheus_url))
        self.timing, self.effective_plan = fit_to_prometheus(
            self.plan, prom, self.namespace, intervals, step_given=self.step_given
        )
        log.info("%s", describe_timing(self.timing, self.effective_plan))

    def _pods_of(self, fw: str) -> list[Any]:
        assert self.access is not None
        core = client.CoreV1Api(self.access.api)
        labels = selector_string({COMPONENT: SERVICE_COMPONENT, NAME: fw})
        return list(
            api_call(
                "list pods",
                self.namespace,
                lambda: core.list_namespaced_pod(self.namespace, label_selector=labels),
            ).items
        )

    def _service_pods(self) -> dict[str, list[Any]]:
        return {fw: [p for p in self._pods_of(fw) if _ready(p)] for fw in self.plan.frameworks}

    @staticmethod
    def _pod_url(pod: Any) -> str:
        port = 8000
        for c in pod.spec.containers:
            for p in c.ports or []:
                if p.name == "http":
                    port = p.container_port
        if not pod.status or not pod.status.pod_ip:
            raise TargetError(f"pod {pod.metadata.name} has no IP yet")
        return f"http://{pod.status.pod_ip}:{port}"

    def _check_worker_nodes(self, workers: str, pods: dict[str, list[Any]]) -> None:
        """The load generator must not share a node (and its CPU) with a pod under test."""
        assert self.access is not None
        core = client.CoreV1Api(self.access.api)
        labels = selector_string({COMPONENT: LOCUST_WORKER[0], NAME: LOCUST_WORKER[1]})
        worker_pods: list[Any] = api_call(
            "list pods",
            self.namespace,
            lambda: core.list_namespaced_pod(self.namespace, label_selector=labels),
        ).items
        measured = {p.spec.node_name for g in pods.values() for p in g}
        self.worker_nodes_shared = sorted(
            {p.spec.node_name for p in worker_pods if p.spec.node_name in measured}
        )
        if self.worker_nodes_shared:
            log.warning(
                "Locust workers (%s) run on node(s) %s with pods under test; they compete for "
                "CPU (add a node, or give the workers a nodeSelector)",
                workers,
                ", ".join(self.worker_nodes_shared),
            )

    # -- while running -----------------------------------------------------------------------

    def check_pods(self) -> None:
        """Raise TargetError when a measured pod is gone, not ready or restarted (every 5 s)."""
        now = time.monotonic()
        if now - self._checked_s < CHECK_EVERY_S or self.access is None:
            return
        self._checked_s = now
        for fw in self.plan.frameworks:
            current = {p.metadata.name: p for p in self._pods_of(fw)}
            for name, restarts in self._restarts.items():
                if not name.startswith(self._deployments.get(fw, "\0")):
                    continue
                p = current.get(name)
                if p is None:
                    raise TargetError(f"pod {name} is gone (evicted or deleted) during the run")
                if _restarts(p) > restarts:
                    raise TargetError(
                        f"pod {name} restarted during the run (OOMKilled or crashed); see "
                        f"`kubectl -n {self.namespace} logs {name} --previous`"
                    )
                if not _ready(p):
                    raise TargetError(f"pod {name} is no longer ready: {pod_problem(p)}")


def make_target(
    plan: Plan,
    options: ClusterOptions,
    outputs: StackOutputs | None,
    *,
    step_given: bool,
) -> KubeTarget | UrlTarget:
    """The target for the cluster flags: URL mode, or the Kubernetes API (stack / namespace)."""
    if options.url_mode and options.prometheus_url and options.locust_url:
        return UrlTarget(
            plan,
            step_given=step_given,
            prometheus_url=options.prometheus_url,
            locust_url=options.locust_url,
            namespace=options.namespace or "",
        )
    return KubeTarget(plan, options, outputs, step_given=step_given)
