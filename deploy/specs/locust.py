"""Pure builders of the in-cluster load generator: its inputs, and the Locust master's and
workers' pods running the repository's locustfile with the flags the local run uses
(capacity/target/local.py); deploy/locust.py registers them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from deploy.specs.names import LOCUST_MASTER_PORT, LOCUST_SERVICE, LOCUST_UID, LOCUST_WEB_PORT
from deploy.specs.network import Scrapers
from deploy.specs.placement import PodPlacement
from deploy.specs.pods import (
    Probes,
    config_map_volume,
    container,
    empty_dir,
    env_vars,
    exec_probe,
    mount,
    pod_template,
    tcp_probe,
)

LOCUSTFILE_DIR = "/etc/fwcap/locust"
LOCUSTFILE_NAME = "locustfile.py"
WEB_AUTH_NAME = "web_auth.py"
LOCUST_WEB_USER = "fwcap"
# Read by deploy/locust_plugins/web_auth.py, which runs inside the Locust image and so cannot
# import this module (nor may the program import locust: it monkey-patches the process).
USER_ENV = "FWCAP_LOCUST_WEB_USER"
PASSWORD_ENV = "FWCAP_LOCUST_WEB_PASSWORD"
_LOCUSTFILES = f"{LOCUSTFILE_DIR}/{LOCUSTFILE_NAME},{LOCUSTFILE_DIR}/{WEB_AUTH_NAME}"
_ENV = {"HOME": "/tmp", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
# A worker has no port of its own; it is alive while its Python process is (PID 1 in the pod,
# and /proc/1/cmdline names the worker), and ready once that is so.
_WORKER_ALIVE = [
    "python",
    "-c",
    "import sys; sys.exit(b'--worker' not in open('/proc/1/cmdline','rb').read())",
]


def master_args() -> list[str]:
    return [
        "-f", _LOCUSTFILES, "--loglevel", "WARNING",
        "--master", "--class-picker",
        "--web-host", "0.0.0.0", "--web-port", str(LOCUST_WEB_PORT),
        "--master-bind-host", "0.0.0.0", "--master-bind-port", str(LOCUST_MASTER_PORT),
    ]  # fmt: skip


def worker_args(namespace: str) -> list[str]:
    return [
        "-f", _LOCUSTFILES, "--loglevel", "WARNING",
        "--worker", "--master-host", f"{LOCUST_SERVICE}.{namespace}.svc",
        "--master-port", str(LOCUST_MASTER_PORT),
    ]  # fmt: skip


@dataclass(frozen=True)
class LocustInputs:
    namespace: str  # the workers find the master by its in-namespace DNS name
    image: str  # pinned by digest
    master_cpu: str
    master_memory: str
    workers: int
    worker_cpu: str
    worker_memory: str
    placement: PodPlacement
    scrapers: Scrapers  # who reads the master's metrics


# The container is named "locust" in both: Prometheus labels the loadgen series with it.
MASTER, WORKER = LOCUST_SERVICE, "locust-worker"
MASTER_PORTS = {"web": LOCUST_WEB_PORT, "master": LOCUST_MASTER_PORT}


def locust_pods(
    inputs: LocustInputs,
    code_sha256: str,
    locustfiles: pulumi.Input[str],
    web_auth_secret: pulumi.Input[str],
) -> dict[str, k8s.core.v1.PodTemplateSpecArgs]:
    """MASTER and WORKER -> pod template; `locustfiles` names the ConfigMap with the code,
    `web_auth_secret` the Secret with the web API's user and password."""
    volumes = [config_map_volume("locustfile", locustfiles), empty_dir("tmp", "256Mi")]
    mounts = [mount("locustfile", LOCUSTFILE_DIR, read_only=True), mount("tmp", "/tmp")]
    master = container(
        "locust",
        inputs.image,
        uid=LOCUST_UID,
        cpu=inputs.master_cpu,
        memory=inputs.master_memory,
        args=master_args(),
        env=env_vars(
            _ENV,
            secrets={
                USER_ENV: (web_auth_secret, "user"),
                PASSWORD_ENV: (web_auth_secret, "password"),
            },
        ),
        ports=MASTER_PORTS,
        # TCP, not HTTP: every HTTP path but the metrics asks for the password.
        probes=Probes(
            readiness=tcp_probe("web", period_s=5),
            liveness=tcp_probe("master", period_s=15, failures=4),
        ),
        mounts=mounts,
    )
    worker = container(
        "locust",
        inputs.image,
        uid=LOCUST_UID,
        cpu=inputs.worker_cpu,
        memory=inputs.worker_memory,
        args=worker_args(inputs.namespace),
        env=env_vars(_ENV),
        probes=Probes(
            readiness=exec_probe(_WORKER_ALIVE, period_s=10, failures=3),
            liveness=exec_probe(_WORKER_ALIVE, period_s=30, failures=3),
        ),
        mounts=mounts,
    )
    return {
        name: pod_template(
            name,
            name,
            uid=LOCUST_UID,
            containers=[box],
            volumes=volumes,
            placement=inputs.placement,
            # New code rolls master and workers together.
            annotations={"fwcap/locustfile-sha256": code_sha256},
        )
        for name, box in ((MASTER, master), (WORKER, worker))
    }
