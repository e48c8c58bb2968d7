"""The kit's workload policy, checked on manifests: Pod Security Standards "restricted" plus the
kit's own rules (read-only root with an emptyDir /tmp, requests = limits on every container -
except a CPU limit above its request, which a measured sizing may set (Burstable QoS) - and pinned
images).

`violations(manifest)` returns readable strings, empty when the object complies; objects without
a pod template have none.
"""

from __future__ import annotations

import re
from typing import Any

from capacity.quantity import parse_cpu_millicores

# Volume types the restricted profile allows (PSS "Volume Types", restricted).
ALLOWED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any] | None:
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in _TEMPLATE_KINDS:
        return spec["template"]["spec"]
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return None


def image_is_pinned(image: str) -> bool:
    """A tag other than `latest` (for readers) and a digest (for the kubelet: a tag can be
    re-pushed, a digest cannot)."""
    name, at, digest = image.partition("@")
    if not at or not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
        return False
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")


def violations(manifest: dict[str, Any]) -> list[str]:
    pod = pod_spec(manifest)
    if pod is None:
        return []
    where = f"{manifest['kind']}/{(manifest.get('metadata') or {}).get('name', '?')}"
    found: list[str] = []
    psc = pod.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(f"{where}: {flag} is set")
    if psc.get("sysctls"):
        found.append(f"{where}: sysctls are set")
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for name, volume in volumes.items():
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            found.append(f"{where}: volume {name} uses {sorted(kinds - ALLOWED_VOLUME_TYPES)}")
    containers = [
        *(pod.get("initContainers") or []),
        *(pod.get("containers") or []),
        *(pod.get("ephemeralContainers") or []),
    ]
    if not pod.get("containers"):
        found.append(f"{where}: no containers")
    for c in containers:
        found += _container_violations(f"{where} container {c.get('name')}", c, psc, volumes)
    return found


def _container_violations(
    where: str, c: dict[str, Any], psc: dict[str, Any], volumes: dict[str, Any]
) -> list[str]:
    found: list[str] = []
    sc = c.get("securityContext") or {}

    def effective(key: str) -> Any:
        return sc[key] if key in sc else psc.get(key)

    if effective("runAsNonRoot") is not True:
        found.append(f"{where}: runAsNonRoot is not true")
    if effective("runAsUser") in (None, 0):
        found.append(f"{where}: runAsUser is not a non-zero uid")
    if sc.get("allowPrivilegeEscalation") is not False:
        found.append(f"{where}: allowPrivilegeEscalation is not false")
    if sc.get("privileged"):
        found.append(f"{where}: privileged")
    capabilities = sc.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        found.append(f"{where}: capabilities do not drop ALL")
    if capabilities.get("add"):
        found.append(f"{where}: capabilities added: {capabilities['add']}")
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        found.append(f"{where}: seccompProfile is {seccomp!r}, not RuntimeDefault")
    if sc.get("readOnlyRootFilesystem") is not True:
        found.append(f"{where}: root filesystem is writable")
    for port in c.get("ports") or []:
        if port.get("hostPort"):
            found.append(f"{where}: hostPort {port['hostPort']}")
    resources = c.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for resource in ("cpu", "memory"):
        if resource not in limits or resource not in requests:
            found.append(f"{where}: no {resource} request and limit")
        elif resource == "cpu" and parse_cpu_millicores(requests["cpu"]) < parse_cpu_millicores(
            limits["cpu"]
        ):
            continue  # Burstable by choice (fwcap:sizing); the HPA still divides by the request
        elif str(requests[resource]) != str(limits[resource]):
            found.append(f"{where}: {resource} request {requests[resource]} != limit")
    image = str(c.get("image") or "")
    if not image_is_pinned(image):
        found.append(
            f"{where}: image {image!r} is not pinned: tag (not latest) and @sha256: digest"
        )
    tmp = [m for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
    if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
        found.append(f"{where}: /tmp is not an emptyDir")
    return found
