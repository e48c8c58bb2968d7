"""The kubernetes client, built from a kubeconfig, and its API errors as the kit's errors.

`load_kube` checks the kubeconfig file and context without contacting the cluster, so a wrong
`--kubeconfig` or `--context` fails before any load or change. `api_call` turns the client's
ApiException into a TargetError saying what was refused and how to fix it (RBAC, a missing
object), instead of a stack trace with an HTTP body.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from capacity.errors import ConfigError, TargetError

# What the client's kubeconfig loader raises for a file that is not a usable kubeconfig.
UNREADABLE = (ConfigException, OSError, ValueError, TypeError, KeyError, AttributeError)


@dataclass(frozen=True)
class KubeAccess:
    """A configured API client and where it points (for messages)."""

    api: client.ApiClient
    context: str | None
    server: str


def kubeconfig_path(given: Path | None) -> Path:
    """The kubeconfig to use: --kubeconfig, else the first of $KUBECONFIG, else ~/.kube/config."""
    if given is not None:
        if not given.is_file():
            raise ConfigError(
                f"--kubeconfig {given}: no such file; give the path of a kubeconfig (or leave "
                "the option out to use $KUBECONFIG or ~/.kube/config)"
            )
        return given
    env = os.environ.get("KUBECONFIG", "")
    candidates = [Path(p) for p in env.split(os.pathsep) if p] or [Path.home() / ".kube/config"]
    for p in candidates:
        if p.is_file():
            return p
    raise ConfigError(
        f"no kubeconfig found ({' or '.join(map(str, candidates))} does not exist); give "
        "--kubeconfig PATH, or give --prometheus-url and --locust-url to measure without the "
        "Kubernetes API"
    )


def load_kube(
    kubeconfig: Path | None, context: str | None, context_from: str = "--context"
) -> KubeAccess:
    """An API client for `context` in the kubeconfig; errors name the file and the contexts."""
    path = kubeconfig_path(kubeconfig)
    try:
        listed = config.list_kube_config_contexts  # untyped in the client
        contexts, current = listed(config_file=str(path))  # type: ignore[no-untyped-call]
    except (*UNREADABLE, yaml.YAMLError) as e:
        raise ConfigError(f"kubeconfig {path} cannot be read: {' '.join(str(e).split())}") from e
    names = [c["name"] for c in contexts or []]
    if context is not None and context not in names:
        raise ConfigError(
            f"{context_from} {context}: not in kubeconfig {path} "
            f"(contexts: {', '.join(names) or 'none'})"
        )
    chosen = context or (current or {}).get("name")
    configuration = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(path), context=chosen, client_configuration=configuration
        )
    except (*UNREADABLE, yaml.YAMLError) as e:
        raise ConfigError(f"kubeconfig {path}, context {chosen}: {' '.join(str(e).split())}") from e
    return KubeAccess(client.ApiClient(configuration), chosen, configuration.host)


def explain(e: ApiException, action: str, namespace: str | None = None) -> TargetError:
    """One line for a refused API call: `action` is e.g. "patch deployments/django"."""
    where = f" in namespace {namespace}" if namespace else ""
    # A refused WebSocket upgrade (port-forward) arrives as status 0, the code in its reason.
    handshake = re.search(r"Handshake status (\d{3})", str(e.reason or ""))
    status = int(handshake.group(1)) if e.status == 0 and handshake else e.status
    if status == 403:
        return TargetError(
            f"forbidden: the kubeconfig's user may not {action}{where} (RBAC); grant it, e.g. "
            f"`kubectl create rolebinding fwcap-edit --clusterrole=edit --user=<you> -n "
            f"{namespace or '<namespace>'}` (node and daemonset reads need a ClusterRole)"
        )
    if status == 404:
        return TargetError(
            f"not found: {action}{where}: the object does not exist; was the stack deployed "
            "(`pulumi up`) to this cluster and namespace?"
        )
    if status == 401:
        return TargetError(
            f"unauthorized: the API server refused the kubeconfig's credentials "
            f"to {action}{where}; log in again (e.g. refresh the cloud token)"
        )
    return TargetError(f"Kubernetes API error {status} {e.reason} on {action}{where}")


def api_call[T](action: str, namespace: str | None, fn: Callable[[], T]) -> T:
    """Run one API call; ApiException and connection failures become a TargetError."""
    try:
        return fn()
    except ApiException as e:
        raise explain(e, action, namespace) from e
    except (OSError, urllib3.exceptions.HTTPError) as e:
        raise TargetError(f"the Kubernetes API server did not answer {action}: {e}") from e
