"""Registering objects: the one place a Deployment, Service, NetworkPolicy or RBAC binding is
created from the pure builders of deploy/specs/, so every component makes each kind the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from deploy.specs.names import meta, selector
from deploy.specs.network import Allow, network_policy_spec
from deploy.specs.workloads import Rules, cluster_ip_service_spec, deployment_spec, policy_rules

# What the components read back from an object they registered: its name, once Kubernetes (or
# Pulumi's auto-naming) has settled it, so a consumer waits for the object to exist.
Named = (
    k8s.core.v1.ConfigMap
    | k8s.core.v1.PersistentVolumeClaim
    | k8s.core.v1.Secret
    | k8s.core.v1.Service
    | k8s.core.v1.ServiceAccount
)


def name_of(resource: Named) -> pulumi.Output[str]:
    return resource.metadata.apply(lambda m: str(m.name))


def add_deployment(
    resource_name: str,
    namespace: pulumi.Input[str],
    component: str,
    name: str,
    template: k8s.core.v1.PodTemplateSpecArgs,
    opts: pulumi.ResourceOptions,
    *,
    replicas: int = 1,
    single_writer: bool = False,
) -> k8s.apps.v1.Deployment:
    return k8s.apps.v1.Deployment(
        resource_name,
        metadata=meta(name, namespace, component),
        spec=deployment_spec(
            component, name, template, replicas=replicas, single_writer=single_writer
        ),
        opts=opts,
    )


def add_service(
    resource_name: str,
    namespace: pulumi.Input[str],
    component: str,
    name: str,
    ports: Mapping[str, int],
    opts: pulumi.ResourceOptions,
    *,
    headless: bool = False,
    object_name: str | None = None,
) -> k8s.core.v1.Service:
    """A Service for the pods of (component, name), itself named `object_name` or `name`."""
    return k8s.core.v1.Service(
        resource_name,
        metadata=meta(object_name or name, namespace, component),
        spec=cluster_ip_service_spec(component, name, ports, headless=headless),
        opts=opts,
    )


def add_network_policy(
    resource_name: str,
    namespace: pulumi.Input[str],
    component: str,
    name: str,
    opts: pulumi.ResourceOptions,
    *,
    ingress: Sequence[Allow] = (),
    egress: Sequence[Allow] = (),
) -> k8s.networking.v1.NetworkPolicy:
    """The pods of (component, name): only these conversations, in each direction."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=meta(name, namespace, component),
        spec=network_policy_spec(selector(component, name), ingress=ingress, egress=egress),
        opts=opts,
    )


def add_role_binding(
    resource_name: str,
    namespace: pulumi.Input[str] | None,
    component: str,
    name: str,
    rules: Rules,
    subject: k8s.rbac.v1.SubjectArgs,
    opts: pulumi.ResourceOptions,
) -> None:
    """A Role and RoleBinding in `namespace`, or (namespace None) a ClusterRole and binding."""
    cluster = namespace is None
    kind = "ClusterRole" if cluster else "Role"
    role_type = k8s.rbac.v1.ClusterRole if cluster else k8s.rbac.v1.Role
    binding_type = k8s.rbac.v1.ClusterRoleBinding if cluster else k8s.rbac.v1.RoleBinding
    role = role_type(
        resource_name,
        metadata=meta(name, namespace, component),
        rules=policy_rules(rules),
        opts=opts,
    )
    binding_type(
        resource_name,
        metadata=meta(name, namespace, component),
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io",
            kind=kind,
            name=role.metadata.apply(lambda m: str(m.name)),
        ),
        subjects=[subject],
        opts=opts,
    )


def add_workload(
    resource_name: str,
    namespace: pulumi.Input[str],
    component: str,
    name: str,
    template: k8s.core.v1.PodTemplateSpecArgs,
    opts: pulumi.ResourceOptions,
    *,
    ports: Mapping[str, int] | None = None,
    ingress: Sequence[Allow] = (),
    egress: Sequence[Allow] = (),
    replicas: int = 1,
    single_writer: bool = False,
) -> None:
    """A Deployment, its ClusterIP Service (when it serves `ports`) and its NetworkPolicy: the
    shape of every Deployment-run component of the kit."""
    add_deployment(
        resource_name,
        namespace,
        component,
        name,
        template,
        opts,
        replicas=replicas,
        single_writer=single_writer,
    )
    if ports:
        add_service(f"{resource_name}-service", namespace, component, name, ports, opts)
    add_network_policy(
        f"{resource_name}-policy", namespace, component, name, opts, ingress=ingress, egress=egress
    )
