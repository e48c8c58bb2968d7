"""The load generator in the cluster: a Locust master (web API on `web`, behind Basic auth, which
the kit's driver reaches through a port-forward and Prometheus scrapes) and configurable workers,
running the repository's locustfile from a ConfigMap with the same flags the local run uses
(capacity/target/local.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from deploy.files import KitFiles
from deploy.resources import add_deployment, add_network_policy, add_service
from deploy.specs.names import (
    LOCUST_MASTER_PORT,
    LOCUST_SERVICE,
    LOCUST_UID,
    LOCUST_WEB_PORT,
    SERVICE_PORT,
    in_cluster_url,
    meta,
)
from deploy.specs.network import Allow, Scrapers, monitoring_peers, pods
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


class Locust(pulumi.ComponentResource):
    """`url` is the master's in-cluster web API; `web_password` (a secret) opens it as
    `web_user`."""

    url: str
    web_user: str
    web_password: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        inputs: LocustInputs,
        namespace: pulumi.Input[str],
        files: KitFiles,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:Locust", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        code = {LOCUSTFILE_NAME: files.locustfile, WEB_AUTH_NAME: files.locust_web_auth}
        config_map = k8s.core.v1.ConfigMap(
            f"{resource_name}-locustfile",
            metadata=meta("locustfile", namespace, "locust"),
            data=code,
            opts=child,
        )
        password = random.RandomPassword(
            f"{resource_name}-web-password", length=24, special=False, opts=child
        )
        web_auth = k8s.core.v1.Secret(
            f"{resource_name}-web-auth",
            metadata=meta("locust-web-auth", namespace, "locust-master"),
            type="Opaque",
            string_data={"user": LOCUST_WEB_USER, "password": password.result},
            opts=child,
        )
        web_auth_name = web_auth.metadata.apply(lambda m: str(m.name))
        volumes = [
            config_map_volume("locustfile", config_map.metadata.apply(lambda m: str(m.name))),
            empty_dir("tmp", "256Mi"),
        ]
        mounts = [mount("locustfile", LOCUSTFILE_DIR, read_only=True), mount("tmp", "/tmp")]
        # New code rolls master and workers together.
        annotations = {"fwcap/locustfile-sha256": hashlib.sha256(repr(code).encode()).hexdigest()}

        # The container is named "locust" in both: Prometheus labels the loadgen series with it.
        master_name, worker_name = LOCUST_SERVICE, "locust-worker"
        master_ports = {"web": LOCUST_WEB_PORT, "master": LOCUST_MASTER_PORT}
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
                    USER_ENV: (web_auth_name, "user"),
                    PASSWORD_ENV: (web_auth_name, "password"),
                },
            ),
            ports=master_ports,
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
        for name, replicas, box in (
            (master_name, 1, master),
            (worker_name, inputs.workers, worker),
        ):
            template = pod_template(
                name,
                name,
                uid=LOCUST_UID,
                containers=[box],
                volumes=volumes,
                placement=inputs.placement,
                annotations=annotations,
            )
            add_deployment(name, namespace, name, name, template, child, replicas=replicas)
        add_service(
            f"{resource_name}-service", namespace, master_name, master_name, master_ports, child
        )
        # Master: its workers on the master port, Prometheus on the web port (metrics); the
        # driver comes through a port-forward, which NetworkPolicies do not filter.
        add_network_policy(
            f"{resource_name}-master-policy",
            namespace,
            master_name,
            master_name,
            child,
            ingress=[
                Allow((pods(worker_name),), (LOCUST_MASTER_PORT,)),
                Allow(monitoring_peers(inputs.scrapers), (LOCUST_WEB_PORT,)),
            ],
        )
        # Workers: nobody calls them; they call the master and the services under test.
        add_network_policy(
            f"{resource_name}-worker-policy",
            namespace,
            worker_name,
            worker_name,
            child,
            egress=[
                Allow((pods(master_name),), (LOCUST_MASTER_PORT,)),
                Allow((pods("service"),), (SERVICE_PORT,)),
            ],
        )
        self.url = in_cluster_url(LOCUST_SERVICE, inputs.namespace, LOCUST_WEB_PORT)
        self.web_user = LOCUST_WEB_USER
        self.web_password = pulumi.Output.secret(password.result)
        self.register_outputs({"url": self.url})
