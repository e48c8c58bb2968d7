"""The Pulumi components that deploy the kit to a Kubernetes cluster.

    settings.py    the one validated settings object: every stack config key and its default
    setting_types.py  what each kind of setting accepts (DNS label, CIDRs, digest, ...)
    stack_config.py   stack config -> StackSettings, or a ConfigError naming each bad key
    images.py      third-party images (tag + the stack's digest) and image references
    specs/         pure builders, one module per kind of thing: names, pods, workloads, network,
                   placement, service_chart, config_files (narrow values in, Args or dicts out)
    resources.py   the add_* functions that register Deployments, Services, policies and RBAC
    namespace.py   the namespace (enforces the restricted Pod Security Standard)
    postgres.py    PostgreSQL: StatefulSet, PVC, generated password, one database per framework
    service.py     a framework service: its image and the charts/fwcap-service Helm chart
    upstream.py    the upstream stub the services call for /api/upstream
    monitoring.py  Prometheus + Grafana, or ServiceMonitors for an existing kube-prometheus-stack
    locust.py      the Locust master (web API behind Basic auth) and workers
    locust_plugins/web_auth.py  the auth plugin shipped to the master (runs in the Locust image)
    aws.py         EKS: ECR repositories and push credentials, EBS CSI add-on + gp3 StorageClass
    kind/          the kind cluster config of the local stack (scripts/kind-up)

`__main__.py` (the Pulumi program) only reads the settings, composes these, and exports.
"""
