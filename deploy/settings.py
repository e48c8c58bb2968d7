"""The one validated settings object for `pulumi up`: every stack config key, its default and
what it accepts (the kinds of value: deploy/setting_types.py).

Pulumi.yaml declares the same keys (type, description, default) for the CLI; a test keeps the two
in step. deploy/stack_config.py reads a stack's config into it.
"""

from __future__ import annotations

import platform
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from capacity.frameworks import REFERENCE
from capacity.quantity import CPU_FORMS, MEMORY_FORMS
from deploy import images
from deploy.images import IMAGE_REF_FORMS, ImageRef, parse_image_ref
from deploy.setting_types import (
    DIGEST_FORMS,
    FRAMEWORKS,
    REGISTRY_FORMS,
    BuildPlatform,
    Cidrs,
    Cpu,
    CronSchedule,
    Digest,
    DnsLabel,
    EksClusterName,
    Frameworks,
    HttpUrl,
    ImageTag,
    LabelValue,
    Memory,
    MonitoringMode,
    NodeType,
    OptionalMemory,
    PinnedImageRef,
    PullPolicy,
    Registry,
    RelativePythonFile,
    Retention,
    StorageClassName,
)
from deploy.sizing import SIZING_FORMS, Sizing

PROJECT = "fwcap"


def _digest_description(image: images.ThirdPartyImage) -> str:
    return f"Digest of {image.tag_ref} ({image.why}); pins the tag to the image it named."


def _setting(default: Any, description: str, accepted: str, **constraints: Any) -> Any:
    # `accepted` is what an error message says; `description` is Pulumi.yaml's description.
    return Field(
        default, description=description, json_schema_extra={"accepted": accepted}, **constraints
    )


class StackSettings(BaseModel):
    """Everything a stack can set; defaults equal Pulumi.yaml's."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    namespace: DnsLabel = _setting(
        "fwcap",
        "Namespace for every object of the kit; it enforces the restricted Pod Security Standard.",
        "a DNS label: lowercase letters, digits and '-', at most 63 characters",
    )
    frameworks: Frameworks = _setting(
        REFERENCE,
        "Which framework services to deploy (django-async: Django's async views under uvicorn, "
        "from the django image).",
        f"a non-empty list of distinct names from: {', '.join(FRAMEWORKS)}",
    )
    cpu: Cpu = _setting(
        "500m",
        "CPU of one service pod (request = limit); the launcher derives workers from it.",
        CPU_FORMS,
    )
    memory: Memory = _setting("512Mi", "Memory of one service pod (request = limit).", MEMORY_FORMS)
    replicas: int = _setting(1, "Pods per framework service.", "an integer >= 1", ge=1)
    workers: int = _setting(
        0,
        "Server worker processes per pod; 0 lets the launcher derive ceil(CPU limit / 1 core).",
        "an integer >= 0 (0 = derived from the CPU limit)",
        ge=0,
    )
    threads: int = _setting(
        16, "gthread threads per gunicorn worker (Django only).", "an integer >= 1", ge=1
    )
    db_pool_size: int = _setting(
        0,
        "Database connections per worker process; 0 keeps each launcher's default.",
        "an integer >= 0 (0 = the launcher's default)",
        ge=0,
    )
    hpa_enabled: bool = _setting(
        False,
        "Add a HorizontalPodAutoscaler to each service (off for capacity measurements).",
        "true or false",
    )
    hpa_max_replicas: int = _setting(
        4, "Upper bound of the autoscaler, when enabled.", "an integer >= replicas", ge=1
    )
    hpa_cpu_utilization_percent: int = _setting(
        70,
        "Autoscaler target: average CPU use as a percentage of the request.",
        "an integer from 1 to 100",
        ge=1,
        le=100,
    )
    sizing: Sizing = _setting(
        {},
        "Per framework, a measured pod shape and autoscaler (a report's sizing.yaml): overrides "
        "cpu, memory, workers, threads, replicas and the hpa* keys for that framework's service.",
        SIZING_FORMS,
    )
    build_images: bool = _setting(
        True,
        "Build the images from services/*/Dockerfile and push them to `registry`; false uses "
        "djangoImage / fastapiImage / upstreamImage as given.",
        "true or false",
    )
    registry: Registry = _setting(
        "",
        "Registry the built images are pushed to (and the cluster pulls from).",
        REGISTRY_FORMS,
    )
    image_tag: ImageTag = _setting(
        "",
        "Tag of the built images; empty derives it from the build context's content, so a change "
        "gets a new tag (immutable repositories refuse a reused one). Pods also pin the digest.",
        "empty, or a Docker tag (letters, digits, '_', '.', '-'; at most 128), never 'latest'",
    )
    build_platform: BuildPlatform = _setting(
        "linux/amd64",
        "CPU architecture of the built images (the nodes' architecture); host: this machine's "
        "(kind, k3d).",
        "linux/amd64, linux/arm64, or host (the architecture of the machine running pulumi up)",
    )
    django_image: PinnedImageRef = _setting(
        "", "Prebuilt Django image, used when buildImages is false.", IMAGE_REF_FORMS
    )
    fastapi_image: PinnedImageRef = _setting(
        "", "Prebuilt FastAPI image, used when buildImages is false.", IMAGE_REF_FORMS
    )
    upstream_image: PinnedImageRef = _setting(
        "", "Prebuilt upstream-stub image, used when buildImages is false.", IMAGE_REF_FORMS
    )
    image_pull_policy: PullPolicy = _setting(
        "IfNotPresent", "imagePullPolicy of the kit's own images.", "IfNotPresent, Always or Never"
    )
    postgres_cpu: Cpu = _setting("1", "CPU of the PostgreSQL pod (request = limit).", CPU_FORMS)
    postgres_memory: Memory = _setting(
        "1Gi", "Memory of the PostgreSQL pod (request = limit).", MEMORY_FORMS
    )
    postgres_storage: Memory = _setting("5Gi", "Size of PostgreSQL's volume.", MEMORY_FORMS)
    postgres_max_connections: int = _setting(
        200,
        "PostgreSQL max_connections; must cover every pod's workers x pool size.",
        "an integer from 20 to 10000",
        ge=20,
        le=10000,
    )
    postgres_backup_schedule: CronSchedule = _setting(
        "",
        "Cron schedule of a pg_dumpall CronJob writing gzipped dumps to a volume of its own "
        "(postgresBackupStorage); empty: no backup (the default: the data is a reproducible "
        "seed).",
        "empty, or a 5-field cron expression like '0 3 * * *' (or @daily, @hourly, @weekly)",
    )
    postgres_backup_storage: Memory = _setting(
        "5Gi", "Size of the backup volume, when postgresBackupSchedule is set.", MEMORY_FORMS
    )
    postgres_backup_keep: int = _setting(
        7,
        "Dumps kept on the backup volume (older ones are deleted).",
        "an integer from 1 to 100",
        ge=1,
        le=100,
    )
    storage_class: StorageClassName = _setting(
        "",
        "StorageClass of PostgreSQL's volume; empty uses the cluster's default class.",
        "empty, or a StorageClass name (a DNS subdomain)",
    )
    monitoring_mode: MonitoringMode = _setting(
        "bundled",
        "bundled: deploy Prometheus and Grafana; existing: use a kube-prometheus-stack already in "
        "the cluster (ServiceMonitors + dashboard ConfigMaps).",
        "bundled or existing",
    )
    scrape_interval_seconds: int = _setting(
        5, "Prometheus scrape interval.", "an integer from 2 to 60", ge=2, le=60
    )
    prometheus_cpu: Cpu = _setting("500m", "CPU of the Prometheus pod.", CPU_FORMS)
    prometheus_memory: Memory = _setting("1Gi", "Memory of the Prometheus pod.", MEMORY_FORMS)
    prometheus_retention: Retention = _setting(
        "2d", "How long Prometheus keeps samples.", "a duration like 12h, 2d or 1w"
    )
    grafana_cpu: Cpu = _setting("250m", "CPU of the Grafana pod.", CPU_FORMS)
    grafana_memory: Memory = _setting("256Mi", "Memory of the Grafana pod.", MEMORY_FORMS)
    existing_prometheus_url: HttpUrl = _setting(
        "",
        "monitoringMode existing: the in-cluster URL of that Prometheus (stack output for "
        "`capacity report`).",
        "an http(s) URL, e.g. http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
    )
    existing_grafana_url: HttpUrl = _setting(
        "",
        "monitoringMode existing: the in-cluster URL of that Grafana (stack output).",
        "empty, or an http(s) URL",
    )
    prometheus_release_label: LabelValue = _setting(
        "kube-prometheus-stack",
        "monitoringMode existing: the `release` label its Prometheus selects ServiceMonitors by.",
        "a Kubernetes label value",
    )
    monitoring_namespace: DnsLabel = _setting(
        "monitoring",
        "monitoringMode existing: namespace of that Prometheus (allowed through the services' "
        "NetworkPolicy).",
        "a DNS label",
    )
    locust_workers: int = _setting(
        2, "Locust worker pods (one process each).", "an integer from 1 to 100", ge=1, le=100
    )
    locust_cpu: Cpu = _setting("1", "CPU of one Locust worker pod.", CPU_FORMS)
    locust_memory: Memory = _setting("512Mi", "Memory of one Locust worker pod.", MEMORY_FORMS)
    locust_master_cpu: Cpu = _setting("500m", "CPU of the Locust master pod.", CPU_FORMS)
    locust_master_memory: Memory = _setting(
        "512Mi", "Memory of the Locust master pod.", MEMORY_FORMS
    )
    locustfile: RelativePythonFile = _setting(
        "capacity/load/locustfile.py",
        "The locustfile, relative to the project directory; shipped to Locust in a ConfigMap.",
        "a path to an existing .py file inside the project directory",
    )

    upstream_cpu: Cpu = _setting(
        "500m",
        "CPU of the upstream stub pod; it only sleeps, so it must merely never be the bottleneck.",
        CPU_FORMS,
    )
    migration_cpu: Cpu = _setting(
        "250m",
        "CPU of each service's migration/seed Job pod (it runs once, next to everything else).",
        CPU_FORMS,
    )
    migration_memory: Memory = _setting(
        "256Mi", "Memory of each service's migration/seed Job pod.", MEMORY_FORMS
    )
    prometheus_storage: OptionalMemory = _setting(
        "",
        "Size of Prometheus' volume (a PVC that outlives the pod); empty keeps the TSDB on an "
        "emptyDir that a pod restart loses.",
        "empty, or a memory quantity like 10Gi",
    )
    service_pool: LabelValue = _setting(
        "",
        "Node pool of the services under test: nodes labelled and tainted fwcap.io/pool=<pool>; "
        "empty runs them anywhere (with anti-affinity from Locust and monitoring).",
        "empty, or a Kubernetes label value",
    )
    load_pool: LabelValue = _setting(
        "",
        "Node pool of Locust, Prometheus, Grafana and PostgreSQL (label and taint "
        "fwcap.io/pool=<pool>); empty runs them anywhere.",
        "empty, or a Kubernetes label value",
    )
    cluster_node_type: NodeType = _setting(
        "",
        "What the stack's nodes are, for the scheduling check (tests/deploy): 'kind' (one node in "
        "Docker) or a node type of capacity/catalog/nodes.yaml; empty: not checked.",
        "empty, 'kind', or a node type name from capacity/catalog/nodes.yaml",
    )
    cluster_nodes: int = _setting(
        1,
        "How many nodes the stack's cluster has (its node group size), for the scheduling check.",
        "an integer from 1 to 1000",
        ge=1,
        le=1000,
    )

    node_cidrs: Cidrs = _setting(
        (),
        "CIDRs of the nodes' addresses (the kubelets Prometheus scrapes for cAdvisor on 10250); "
        "required with monitoringMode bundled, so its egress names them instead of 0.0.0.0/0.",
        "a list of CIDRs like [\"172.18.0.0/16\"] (kind's Docker network) or your VPC's; never "
        "0.0.0.0/0 or ::/0",
    )
    api_server_cidrs: Cidrs = _setting(
        (),
        "CIDRs of the API server's endpoints (`kubectl get endpoints kubernetes`), which "
        "Prometheus and kube-state-metrics reach on 443/6443; required with monitoringMode "
        "bundled.",
        "a list of CIDRs (a /32 per endpoint, or the subnet they live in); never 0.0.0.0/0 or ::/0",
    )
    # Digests of the third-party images (deploy/images.py); required where the stack uses them.
    python_image_digest: Digest = _setting(
        "",
        _digest_description(images.PYTHON),
        DIGEST_FORMS,
    )
    postgres_image_digest: Digest = _setting(
        "",
        _digest_description(images.POSTGRES),
        DIGEST_FORMS,
    )
    prometheus_image_digest: Digest = _setting(
        "",
        _digest_description(images.PROMETHEUS),
        DIGEST_FORMS,
    )
    grafana_image_digest: Digest = _setting(
        "",
        _digest_description(images.GRAFANA),
        DIGEST_FORMS,
    )
    locust_image_digest: Digest = _setting(
        "",
        _digest_description(images.LOCUST),
        DIGEST_FORMS,
    )
    kube_state_metrics_image_digest: Digest = _setting(
        "",
        _digest_description(images.KUBE_STATE_METRICS),
        DIGEST_FORMS,
    )

    ecr: bool = _setting(
        False,
        "Create the images' ECR repositories (immutable tags) and push with credentials from the "
        "ECR API; `registry` is then not needed.",
        "true or false",
    )
    ebs_csi_driver: bool = _setting(
        False,
        "Install the EBS CSI driver add-on with its IAM role (EKS Pod Identity) and create "
        "`storageClass` as gp3, for an EKS cluster that lacks them.",
        "true or false",
    )
    eks_cluster_name: EksClusterName = _setting(
        "",
        "The EKS cluster's name, when ebsCsiDriver is true.",
        "empty, or an EKS cluster name (letters, digits, '-' and '_')",
    )

    # -- derived values

    def image_digest(self, image: images.ThirdPartyImage) -> str:
        return str(getattr(self, f"{image.key}_image_digest"))

    def third_party_images(self) -> tuple[images.ThirdPartyImage, ...]:
        """The third-party images this stack runs or builds on."""
        used = [images.POSTGRES, images.LOCUST]
        if self.build_images:
            used.insert(0, images.PYTHON)
        if self.monitoring_mode == "bundled":
            used += [images.PROMETHEUS, images.GRAFANA, images.KUBE_STATE_METRICS]
        return tuple(used)

    def resolved_build_platform(self, machine: str | None = None) -> str:
        """`host`: the architecture of the machine running `pulumi up` - a kind or k3d node's,
        since those run in its Docker (so no script has to write it into the stack file)."""
        if self.build_platform != "host":
            return self.build_platform
        arch = (machine or platform.machine()).lower()
        return "linux/arm64" if arch in ("arm64", "aarch64") else "linux/amd64"

    def prebuilt_image(self, name: str) -> ImageRef:
        """The configured image for `django`, `fastapi` or `upstream` (buildImages false)."""
        return parse_image_ref(getattr(self, f"{name}_image"))
