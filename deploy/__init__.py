"""The Pulumi components that deploy the kit to a Kubernetes cluster.

    settings.py    the one validated settings object, read from the stack's config
    specs.py       pure builders: labels, security contexts, chart values, config files
    namespace.py   the namespace (enforces the restricted Pod Security Standard)
    postgres.py    PostgreSQL: StatefulSet, PVC, generated password, one database per framework
    service.py     a framework service: its image and the charts/fwcap-service Helm chart
    upstream.py    the upstream stub the services call for /api/upstream
    monitoring.py  Prometheus + Grafana, or ServiceMonitors for an existing kube-prometheus-stack
    locust.py      the Locust master and workers

`__main__.py` (the Pulumi program) only reads the settings, composes these, and exports.
"""
