"""The Pulumi components that deploy the kit to a Kubernetes cluster.

Configuration: the stack's config -> one validated object -> each component's few inputs.
    settings.py       StackSettings: every stack config key, its default and what it accepts
    setting_types.py  what each kind of setting accepts (DNS label, CIDRs, digest, ...)
    stack_config.py   stack config -> StackSettings, or a ConfigError naming each bad key
    inputs.py         StackSettings -> each component's inputs (the only reader of all of it)
    images.py         third-party images (tag + the stack's digest) and image references

Pure builders (narrow values in, pulumi_kubernetes Args or dicts out; no resource created):
    specs/            names, pods, workloads, network, placement, config_files, service_chart,
                      and per component postgres, locust, monitoring (with their inputs)

Components (each registers its objects as its children, from the builders):
    resources.py   the add_* functions every component registers Deployments, Services,
                   NetworkPolicies and RBAC through
    namespace.py   the namespace (enforces the restricted Pod Security Standard)
    postgres.py    PostgreSQL: StatefulSet, PVC, generated password, one database per framework
    service.py     a framework service: its image and the charts/fwcap-service Helm chart
    upstream.py    the upstream stub the services call for /api/upstream
    monitoring.py  Prometheus + Grafana, or ServiceMonitors for an existing kube-prometheus-stack
    locust.py      the Locust master (web API behind Basic auth) and workers
    aws.py         EKS: ECR repositories and push credentials, EBS CSI add-on + gp3 StorageClass
    files.py       the repository files shipped in ConfigMaps, read before anything registers

    locust_plugins/web_auth.py  the auth plugin shipped to the master (runs in the Locust image)
    kind/          the kind cluster config of the local stack (scripts/kind-up)

`__main__.py` (the Pulumi program) only reads the settings, composes these, and exports.
"""
