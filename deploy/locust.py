"""The load generator in the cluster: a Locust master (web API on `web`, behind Basic auth, which
the kit's driver reaches through a port-forward and Prometheus scrapes) and configurable workers,
running the repository's locustfile from a ConfigMap. Its pods are built in
deploy/specs/locust.py; this component registers the objects."""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from deploy.files import KitFiles
from deploy.resources import add_deployment, add_network_policy, add_service, name_of
from deploy.specs.locust import (
    LOCUST_WEB_USER,
    LOCUSTFILE_NAME,
    MASTER,
    MASTER_PORTS,
    WEB_AUTH_NAME,
    WORKER,
    LocustInputs,
    locust_pods,
)
from deploy.specs.names import (
    LOCUST_MASTER_PORT,
    LOCUST_SERVICE,
    LOCUST_WEB_PORT,
    SERVICE_PORT,
    in_cluster_url,
    meta,
)
from deploy.specs.network import Allow, monitoring_peers, pods


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
        templates = locust_pods(
            inputs,
            hashlib.sha256(repr(code).encode()).hexdigest(),
            name_of(config_map),
            name_of(web_auth),
        )
        for name, replicas in ((MASTER, 1), (WORKER, inputs.workers)):
            add_deployment(name, namespace, name, name, templates[name], child, replicas=replicas)
        add_service(f"{resource_name}-service", namespace, MASTER, MASTER, MASTER_PORTS, child)
        # Master: its workers on the master port, Prometheus on the web port (metrics); the
        # driver comes through a port-forward, which NetworkPolicies do not filter.
        add_network_policy(
            f"{resource_name}-master-policy",
            namespace,
            MASTER,
            MASTER,
            child,
            ingress=[
                Allow((pods(WORKER),), (LOCUST_MASTER_PORT,)),
                Allow(monitoring_peers(inputs.scrapers), (LOCUST_WEB_PORT,)),
            ],
        )
        # Workers: nobody calls them; they call the master and the services under test.
        add_network_policy(
            f"{resource_name}-worker-policy",
            namespace,
            WORKER,
            WORKER,
            child,
            egress=[
                Allow((pods(MASTER),), (LOCUST_MASTER_PORT,)),
                Allow((pods("service"),), (SERVICE_PORT,)),
            ],
        )
        self.url = in_cluster_url(LOCUST_SERVICE, inputs.namespace, LOCUST_WEB_PORT)
        self.web_user = LOCUST_WEB_USER
        self.web_password = pulumi.Output.secret(password.result)
        self.register_outputs({"url": self.url})
