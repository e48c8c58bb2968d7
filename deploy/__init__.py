"""The Pulumi components that deploy the kit to a Kubernetes cluster.

    settings.py    the one validated settings object, read from the stack's config
    specs.py       the one set of builders: containers, pod templates, Services, NetworkPolicies,
                   RBAC, chart values (and the add_* functions that register them)
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
