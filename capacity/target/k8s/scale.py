"""Scales each framework's Deployment to the pods a plan needs, and puts everything back.

The first touch of a Deployment records its replicas and, when a HorizontalPodAutoscaler
targets it, the HPA's min/max - in memory and, before anything changes, in an annotation on the
Deployment itself (ORIGINAL_ANNOTATION), so a run that is killed (SIGKILL, a lost laptop) leaves
the record on the object it drifted. The HPA is pinned to the measured count (min = max) so it
cannot undo the scaling mid-step. `restore()` writes every recorded value back, last touched
first, and removes the annotation once its writes succeeded; the target calls it on success, on
failure and on Ctrl-C (signals deferred meanwhile). `adopt_leftovers()` loads the annotations an
earlier run left, so the next run - or `capacity restore` - puts those objects back first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from kubernetes import client

from capacity import interrupts
from capacity.errors import TargetError
from capacity.polling import Pending, poll_until
from capacity.target.k8s.kubeapi import api_call

log = logging.getLogger(__name__)

COMPONENT = "app.kubernetes.io/component"
NAME = "app.kubernetes.io/name"
# On a Deployment the kit scaled: its replicas (and HPA bounds) from before, as JSON.
ORIGINAL_ANNOTATION = "capacity.fwcap.io/original-scale"


@dataclass(frozen=True)
class Original:
    """What a Deployment (and its HPA) looked like before the kit scaled it."""

    deployment: str
    replicas: int
    hpa: str | None = None
    hpa_min_replicas: int | None = None
    hpa_max_replicas: int | None = None


def annotation_text(original: Original) -> str:
    record: dict[str, Any] = {"replicas": original.replicas}
    if original.hpa is not None:
        record |= {
            "hpa": original.hpa,
            "hpaMinReplicas": original.hpa_min_replicas,
            "hpaMaxReplicas": original.hpa_max_replicas,
        }
    return json.dumps(record, sort_keys=True)


def original_from_annotation(deployment: str, text: str) -> Original:
    """The record `annotation_text` wrote; TargetError naming the object if it is not one."""
    try:
        record = json.loads(text)
        replicas = int(record["replicas"])
        hpa = record.get("hpa")
        return Original(
            deployment=deployment,
            replicas=replicas,
            hpa=str(hpa) if hpa is not None else None,
            hpa_min_replicas=record.get("hpaMinReplicas"),
            hpa_max_replicas=record.get("hpaMaxReplicas"),
        )
    except (ValueError, TypeError, KeyError) as e:
        raise TargetError(
            f"deployments/{deployment}: annotation {ORIGINAL_ANNOTATION}={text!r} is not the "
            f"kit's record ({e}); restore its replicas by hand, then remove the annotation "
            f"(`kubectl annotate deployment {deployment} {ORIGINAL_ANNOTATION}-`)"
        ) from None


def selector_string(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def pod_problem(pod: Any) -> str:
    """Why a pod is not ready, from its status: the waiting reason, or its phase."""
    status = pod.status
    for cs in (status.container_statuses or []) if status else []:
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None:
            return f"{waiting.reason}" + (f": {waiting.message}" if waiting.message else "")
        if not cs.ready:
            return f"container {cs.name} not ready (restarts {cs.restart_count})"
    for cond in (status.conditions or []) if status else []:
        if cond.type == "PodScheduled" and cond.status != "True":
            return f"unschedulable: {cond.message or cond.reason}"
    return f"phase {status.phase if status else 'unknown'}"


class Scaler:
    """Scale Deployments in one namespace; remembers what to restore."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        *,
        poll_s: float = 0.5,
        sleep: Callable[[float], None] = interrupts.sleep,
    ) -> None:
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.autoscaling = client.AutoscalingV2Api(api)
        self.namespace = namespace
        self.poll_s = poll_s
        self._sleep = sleep
        self.originals: dict[str, Original] = {}  # insertion order = touch order

    def find(self, component: str, name: str) -> str:
        """The Deployment labelled with `component` and `name` (the deploy/ labels)."""
        labels = selector_string({COMPONENT: component, NAME: name})
        found: Any = api_call(
            "list deployments",
            self.namespace,
            lambda: self.apps.list_namespaced_deployment(self.namespace, label_selector=labels),
        )
        names = [d.metadata.name for d in found.items]
        if not names:
            raise TargetError(
                f"no Deployment labelled {labels} in namespace {self.namespace}: is the stack "
                "deployed there (`pulumi up`), and is --namespace right?"
            )
        if len(names) > 1:
            raise TargetError(f"several Deployments labelled {labels}: {', '.join(names)}")
        return str(names[0])

    def _hpa_for(self, deployment: str) -> Any | None:
        hpas: Any = api_call(
            "list horizontalpodautoscalers",
            self.namespace,
            lambda: self.autoscaling.list_namespaced_horizontal_pod_autoscaler(self.namespace),
        )
        for h in hpas.items:
            ref = h.spec.scale_target_ref
            if ref.kind == "Deployment" and ref.name == deployment:
                return h
        return None

    def _remember(self, deployment: str) -> None:
        """Record the Deployment's (and HPA's) scale, on the object first, before any change."""
        if deployment in self.originals:
            return
        d = self._read(deployment)
        left = ((d.metadata.annotations or {}) if d.metadata else {}).get(ORIGINAL_ANNOTATION)
        if left is not None:
            # An earlier run's record: the current scale is its drift, not the original.
            self.originals[deployment] = original_from_annotation(deployment, left)
            return
        hpa = self._hpa_for(deployment)
        original = Original(
            deployment=deployment,
            replicas=int(d.spec.replicas if d.spec.replicas is not None else 1),
            hpa=hpa.metadata.name if hpa else None,
            hpa_min_replicas=hpa.spec.min_replicas if hpa else None,
            hpa_max_replicas=hpa.spec.max_replicas if hpa else None,
        )
        self._annotate(deployment, annotation_text(original))
        self.originals[deployment] = original

    def _annotate(self, deployment: str, text: str | None) -> None:
        """Set (or, with None, remove) the record on the Deployment."""
        body = {"metadata": {"annotations": {ORIGINAL_ANNOTATION: text}}}
        api_call(
            f"patch deployments/{deployment}",
            self.namespace,
            lambda: self.apps.patch_namespaced_deployment(deployment, self.namespace, body),
        )

    def adopt_leftovers(self) -> list[str]:
        """Load the records earlier runs left on this namespace's Deployments (a killed run);
        `restore()` then puts them back. Returns the Deployments found."""
        found: Any = api_call(
            "list deployments",
            self.namespace,
            lambda: self.apps.list_namespaced_deployment(self.namespace),
        )
        adopted = []
        for d in found.items:
            text = (d.metadata.annotations or {}).get(ORIGINAL_ANNOTATION)
            if text is None or d.metadata.name in self.originals:
                continue
            self.originals[d.metadata.name] = original_from_annotation(d.metadata.name, text)
            adopted.append(str(d.metadata.name))
        return adopted

    def _patch_hpa(self, name: str, min_replicas: int | None, max_replicas: int | None) -> None:
        body = {"spec": {"minReplicas": min_replicas, "maxReplicas": max_replicas}}
        api_call(
            f"patch horizontalpodautoscalers/{name}",
            self.namespace,
            lambda: self.autoscaling.patch_namespaced_horizontal_pod_autoscaler(
                name, self.namespace, body
            ),
        )

    def _patch_replicas(self, deployment: str, replicas: int) -> None:
        api_call(
            f"patch deployments/{deployment}",
            self.namespace,
            lambda: self.apps.patch_namespaced_deployment(
                deployment, self.namespace, {"spec": {"replicas": replicas}}
            ),
        )

    def scale(self, deployment: str, replicas: int, *, timeout_s: float = 180.0) -> None:
        """Scale to `replicas` (HPA pinned), then wait until that many pods are ready."""
        if replicas < 0:
            raise TargetError(f"replicas must be 0 or more, got {replicas}")
        self._remember(deployment)
        original = self.originals[deployment]
        if original.hpa is not None:
            self._patch_hpa(original.hpa, max(1, replicas), max(1, replicas))
        log.info("scaling deployment %s to %d pod(s)", deployment, replicas)
        self._patch_replicas(deployment, replicas)
        self.wait_ready(deployment, replicas, timeout_s=timeout_s)

    def wait_ready(self, deployment: str, replicas: int, *, timeout_s: float) -> None:
        def rolled_out() -> bool | Pending:
            d = self._read(deployment)
            st = d.status
            ready = (st.ready_replicas or 0) if st else 0
            updated = (st.updated_replicas or 0) if st else 0
            total = (st.replicas or 0) if st else 0
            observed = (st.observed_generation or 0) if st else 0
            if (
                observed >= (d.metadata.generation or 0)
                and ready == replicas
                and updated >= replicas
                and total == replicas
            ):
                return True
            return Pending(f"{ready} of {replicas} pod(s) ready")

        def stuck(last: str) -> TargetError:
            return TargetError(
                f"deployment {deployment}: {last} after {timeout_s:.0f}s; "
                f"{self._describe_pods(self._read(deployment))}"
            )

        poll_until(
            rolled_out,
            timeout_s=timeout_s,
            interval_s=self.poll_s,
            on_timeout=stuck,
            sleep=self._sleep,
        )

    def _read(self, deployment: str) -> Any:
        return api_call(
            f"get deployments/{deployment}",
            self.namespace,
            lambda: self.apps.read_namespaced_deployment(deployment, self.namespace),
        )

    def _describe_pods(self, d: Any) -> str:
        labels = selector_string(d.spec.selector.match_labels or {})
        pods: Any = api_call(
            "list pods",
            self.namespace,
            lambda: self.core.list_namespaced_pod(self.namespace, label_selector=labels),
        )
        problems = [f"{p.metadata.name}: {pod_problem(p)}" for p in pods.items if not _pod_ready(p)]
        return "; ".join(problems) or "no pod was created (check the ReplicaSet's events)"

    def restore(self) -> list[str]:
        """Put every touched Deployment and HPA back; returns what could not be restored.

        Each write is tried on its own: a refused Deployment patch must not leave its HPA pinned.
        """
        problems: list[str] = []
        for original in reversed(list(self.originals.values())):
            writes: list[tuple[str, str, Callable[[], None]]] = [
                (
                    f"deployments/{original.deployment}",
                    f"replicas {original.replicas}",
                    partial(self._patch_replicas, original.deployment, original.replicas),
                )
            ]
            if original.hpa is not None:
                writes.append(
                    (
                        f"horizontalpodautoscalers/{original.hpa}",
                        f"minReplicas {original.hpa_min_replicas}, "
                        f"maxReplicas {original.hpa_max_replicas}",
                        partial(
                            self._patch_hpa,
                            original.hpa,
                            original.hpa_min_replicas,
                            original.hpa_max_replicas,
                        ),
                    )
                )
            failed = False
            for what, value, write in writes:
                try:
                    write()
                    log.info("restored %s: %s", what, value)
                except TargetError as e:
                    failed = True
                    problems.append(f"{what} (restore by hand: {value}): {e}")
            if not failed:
                # Only a fully restored object loses its record: else the next run (or
                # `capacity restore`) still knows what to put back.
                try:
                    self._annotate(original.deployment, None)
                except TargetError as e:
                    problems.append(
                        f"deployments/{original.deployment}: restored, but its annotation "
                        f"{ORIGINAL_ANNOTATION} could not be removed: {e}"
                    )
        self.originals.clear()
        return problems


def _pod_ready(pod: Any) -> bool:
    for cond in (pod.status.conditions or []) if pod.status else []:
        if cond.type == "Ready":
            return bool(cond.status == "True")
    return False
