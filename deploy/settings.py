"""The one validated settings object for `pulumi up`: every stack config key, its default and
what it accepts.

Pulumi.yaml declares the same keys (type, description, default) for the CLI; a test keeps the two
in step. `load_settings` turns raw stack values into `Settings` or raises `ConfigError` naming the
key (as written in the stack file, `fwcap:<key>`) and what is accepted - before the program
registers a single resource.
"""

from __future__ import annotations

import ipaddress
import json
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from capacity.errors import ConfigError
from capacity.frameworks import REFERENCE
from capacity.pod_shape import PodShape
from capacity.quantity import (
    CPU_FORMS,
    MEMORY_FORMS,
    MIB,
    CpuQuantity,
    MemoryQuantity,
    cpu_at_least,
    kubectl_cpu,
    kubectl_memory,
    memory_at_least,
    memory_text,
)
from capacity.validation import problems
from deploy import images

PROJECT = "fwcap"
# The services the program deploys: the reference ones (the lean variants run locally only).
FRAMEWORKS = REFERENCE
MONITORING_MODES = ("bundled", "existing")
PULL_POLICIES = ("IfNotPresent", "Always", "Never")
BUILD_PLATFORMS = ("linux/amd64", "linux/arm64", "host")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?" + rf"(/{_PATH_COMPONENT})*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_REF = re.compile(
    r"^(?P<repository>[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?"
    + rf"(/{_PATH_COMPONENT})*)"
    + r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
    + r"(@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_CRON = re.compile(r"^(@(hourly|daily|weekly|monthly)|(\S+\s+){4}\S+)$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_DURATION = re.compile(r"^[1-9][0-9]*(h|d|w)$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")

IMAGE_REF_FORMS = (
    "repository:tag@sha256:<64 hex>, e.g. ghcr.io/acme/fwcap-django:1.2.0@sha256:... (a fixed "
    "tag, never 'latest', and the digest it names: `crane digest <repository:tag>`)"
)
REGISTRY_FORMS = (
    "host[:port][/path] without a scheme, e.g. localhost:5001 or "
    "123456789012.dkr.ecr.us-east-1.amazonaws.com"
)


@dataclass(frozen=True)
class ImageRef:
    """An image the cluster pulls: never a bare or `latest` tag."""

    repository: str
    tag: str
    digest: str = ""

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


def parse_image_ref(text: str) -> ImageRef:
    """`host/repo:tag[@sha256:...]` -> ImageRef; ValueError otherwise."""
    match = _IMAGE_REF.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an image reference with a tag")
    if match["tag"] == "latest":
        raise ValueError(f"{text!r} uses the moving tag 'latest'")
    return ImageRef(match["repository"], match["tag"], match["digest"] or "")


DIGEST_FORMS = "sha256: and 64 lowercase hex digits, as `crane digest <image>` prints it"


def _digest_description(image: images.ThirdPartyImage) -> str:
    return f"Digest of {image.tag_ref} ({image.why}); pins the tag to the image it named."


def _setting(default: Any, description: str, accepted: str, **constraints: Any) -> Any:
    # `accepted` is what an error message says; `description` is Pulumi.yaml's description.
    return Field(
        default, description=description, json_schema_extra={"accepted": accepted}, **constraints
    )


# A pod's CPU and memory (request = limit), stored as `kubectl` prints them.
Cpu = Annotated[CpuQuantity, AfterValidator(cpu_at_least(1)), AfterValidator(kubectl_cpu)]
Memory = Annotated[
    MemoryQuantity, AfterValidator(memory_at_least(MIB)), AfterValidator(kubectl_memory)
]
_memory_at_least_1mi = memory_at_least(MIB)


class Settings(BaseModel):
    """Everything a stack can set; defaults equal Pulumi.yaml's."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    namespace: str = _setting(
        "fwcap",
        "Namespace for every object of the kit; it enforces the restricted Pod Security Standard.",
        "a DNS label: lowercase letters, digits and '-', at most 63 characters",
    )
    frameworks: tuple[str, ...] = _setting(
        FRAMEWORKS,
        "Which framework services to deploy.",
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
    build_images: bool = _setting(
        True,
        "Build the images from services/*/Dockerfile and push them to `registry`; false uses "
        "djangoImage / fastapiImage / upstreamImage as given.",
        "true or false",
    )
    registry: str = _setting(
        "",
        "Registry the built images are pushed to (and the cluster pulls from).",
        REGISTRY_FORMS,
    )
    image_tag: str = _setting(
        "",
        "Tag of the built images; empty derives it from the build context's content, so a change "
        "gets a new tag (immutable repositories refuse a reused one). Pods also pin the digest.",
        "empty, or a Docker tag (letters, digits, '_', '.', '-'; at most 128), never 'latest'",
    )
    build_platform: str = _setting(
        "linux/amd64",
        "CPU architecture of the built images (the nodes' architecture); host: this machine's "
        "(kind, k3d).",
        "linux/amd64, linux/arm64, or host (the architecture of the machine running pulumi up)",
    )
    django_image: str = _setting(
        "", "Prebuilt Django image, used when buildImages is false.", IMAGE_REF_FORMS
    )
    fastapi_image: str = _setting(
        "", "Prebuilt FastAPI image, used when buildImages is false.", IMAGE_REF_FORMS
    )
    upstream_image: str = _setting(
        "", "Prebuilt upstream-stub image, used when buildImages is false.", IMAGE_REF_FORMS
    )
    image_pull_policy: str = _setting(
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
    postgres_backup_schedule: str = _setting(
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
    storage_class: str = _setting(
        "",
        "StorageClass of PostgreSQL's volume; empty uses the cluster's default class.",
        "empty, or a StorageClass name (a DNS subdomain)",
    )
    monitoring_mode: str = _setting(
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
    prometheus_retention: str = _setting(
        "2d", "How long Prometheus keeps samples.", "a duration like 12h, 2d or 1w"
    )
    grafana_cpu: Cpu = _setting("250m", "CPU of the Grafana pod.", CPU_FORMS)
    grafana_memory: Memory = _setting("256Mi", "Memory of the Grafana pod.", MEMORY_FORMS)
    existing_prometheus_url: str = _setting(
        "",
        "monitoringMode existing: the in-cluster URL of that Prometheus (stack output for "
        "`capacity report`).",
        "an http(s) URL, e.g. http://kube-prometheus-stack-prometheus.monitoring.svc:9090",
    )
    existing_grafana_url: str = _setting(
        "",
        "monitoringMode existing: the in-cluster URL of that Grafana (stack output).",
        "empty, or an http(s) URL",
    )
    prometheus_release_label: str = _setting(
        "kube-prometheus-stack",
        "monitoringMode existing: the `release` label its Prometheus selects ServiceMonitors by.",
        "a Kubernetes label value",
    )
    monitoring_namespace: str = _setting(
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
    locustfile: str = _setting(
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
    prometheus_storage: str = _setting(
        "",
        "Size of Prometheus' volume (a PVC that outlives the pod); empty keeps the TSDB on an "
        "emptyDir that a pod restart loses.",
        "empty, or a memory quantity like 10Gi",
    )
    service_pool: str = _setting(
        "",
        "Node pool of the services under test: nodes labelled and tainted fwcap.io/pool=<pool>; "
        "empty runs them anywhere (with anti-affinity from Locust and monitoring).",
        "empty, or a Kubernetes label value",
    )
    load_pool: str = _setting(
        "",
        "Node pool of Locust, Prometheus, Grafana and PostgreSQL (label and taint "
        "fwcap.io/pool=<pool>); empty runs them anywhere.",
        "empty, or a Kubernetes label value",
    )
    cluster_node_type: str = _setting(
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

    node_cidrs: tuple[str, ...] = _setting(
        (),
        "CIDRs of the nodes' addresses (the kubelets Prometheus scrapes for cAdvisor on 10250); "
        "required with monitoringMode bundled, so its egress names them instead of 0.0.0.0/0.",
        "a list of CIDRs like [\"172.18.0.0/16\"] (kind's Docker network) or your VPC's; never "
        "0.0.0.0/0 or ::/0",
    )
    api_server_cidrs: tuple[str, ...] = _setting(
        (),
        "CIDRs of the API server's endpoints (`kubectl get endpoints kubernetes`), which "
        "Prometheus and kube-state-metrics reach on 443/6443; required with monitoringMode "
        "bundled.",
        "a list of CIDRs (a /32 per endpoint, or the subnet they live in); never 0.0.0.0/0 or ::/0",
    )
    # Digests of the third-party images (deploy/images.py); required where the stack uses them.
    python_image_digest: str = _setting(
        "",
        _digest_description(images.PYTHON),
        DIGEST_FORMS,
    )
    postgres_image_digest: str = _setting(
        "",
        _digest_description(images.POSTGRES),
        DIGEST_FORMS,
    )
    prometheus_image_digest: str = _setting(
        "",
        _digest_description(images.PROMETHEUS),
        DIGEST_FORMS,
    )
    grafana_image_digest: str = _setting(
        "",
        _digest_description(images.GRAFANA),
        DIGEST_FORMS,
    )
    locust_image_digest: str = _setting(
        "",
        _digest_description(images.LOCUST),
        DIGEST_FORMS,
    )
    kube_state_metrics_image_digest: str = _setting(
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
    eks_cluster_name: str = _setting(
        "",
        "The EKS cluster's name, when ebsCsiDriver is true.",
        "empty, or an EKS cluster name (letters, digits, '-' and '_')",
    )

    # -- validators: each raises ValueError; load_settings adds the key and `accepted`.

    @field_validator("namespace", "monitoring_namespace")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError("not a DNS label")
        return value

    @field_validator("frameworks", mode="before")
    @classmethod
    def _frameworks(cls, value: object) -> tuple[str, ...]:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list | tuple) or not names:
            raise ValueError("not a non-empty list")
        for name in names:
            if name not in FRAMEWORKS:
                raise ValueError(f"unknown framework {name!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"{list(names)!r} names a framework twice")
        return tuple(str(n) for n in names)

    @field_validator("node_cidrs", "api_server_cidrs", mode="before")
    @classmethod
    def _cidrs(cls, value: object) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("not a list of CIDRs")
        found = []
        for item in items:
            try:
                network = ipaddress.ip_network(str(item).strip(), strict=True)
            except ValueError as e:
                raise ValueError(f"{item!r} is not a CIDR ({e})") from None
            if network.prefixlen == 0:
                raise ValueError(f"{item!r} is every address: name the nodes' own range")
            found.append(str(network))
        return tuple(found)

    @field_validator("postgres_backup_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = value.strip()
        if value and not _CRON.match(value):
            raise ValueError("not a cron schedule")
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not _REGISTRY.match(value):
            raise ValueError("not a registry address")
        return value

    @field_validator("image_tag")
    @classmethod
    def _image_tag(cls, value: str) -> str:
        if value and (value == "latest" or not _TAG.match(value)):
            raise ValueError("not a fixed image tag")
        return value

    @field_validator("django_image", "fastapi_image", "upstream_image")
    @classmethod
    def _image_ref(cls, value: str) -> str:
        if value and not parse_image_ref(value).digest:
            raise ValueError("no @sha256: digest (a tag alone can be re-pushed)")
        return value.strip()

    @field_validator(*(f"{i.key}_image_digest" for i in images.ALL))
    @classmethod
    def _digest(cls, value: str) -> str:
        value = value.strip()
        if value and not _DIGEST.match(value):
            raise ValueError("not an image digest")
        return value

    @field_validator("build_platform")
    @classmethod
    def _platform(cls, value: str) -> str:
        return _one_of(value, BUILD_PLATFORMS)

    @field_validator("image_pull_policy")
    @classmethod
    def _pull_policy(cls, value: str) -> str:
        return _one_of(value, PULL_POLICIES)

    @field_validator("monitoring_mode")
    @classmethod
    def _monitoring_mode(cls, value: str) -> str:
        return _one_of(value, MONITORING_MODES)

    @field_validator("eks_cluster_name")
    @classmethod
    def _cluster_name(cls, value: str) -> str:
        if value and not re.match(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$", value):
            raise ValueError("not an EKS cluster name")
        return value

    @field_validator("storage_class")
    @classmethod
    def _storage_class(cls, value: str) -> str:
        if value and not _DNS_SUBDOMAIN.match(value):
            raise ValueError("not a StorageClass name")
        return value

    @field_validator("prometheus_retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError("not a duration")
        return value

    @field_validator("existing_prometheus_url", "existing_grafana_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not _URL.match(value):
            raise ValueError("not an http(s) URL")
        return value.rstrip("/")

    @field_validator("prometheus_storage", mode="before")
    @classmethod
    def _optional_memory(cls, value: object) -> str:
        if value in ("", None):
            return ""
        return kubectl_memory(_memory_at_least_1mi(memory_text(value)))

    @field_validator("cluster_node_type")
    @classmethod
    def _node_type(cls, value: str) -> str:
        if value and value != "kind" and not _DNS_SUBDOMAIN.match(value):
            raise ValueError("not 'kind' or a node type name")
        return value

    @field_validator("prometheus_release_label", "service_pool", "load_pool")
    @classmethod
    def _label_value(cls, value: str) -> str:
        if not _LABEL_VALUE.match(value):
            raise ValueError("not a label value")
        return value

    @field_validator("locustfile")
    @classmethod
    def _python_file(cls, value: str) -> str:
        if not value.endswith(".py") or Path(value).is_absolute() or ".." in Path(value).parts:
            raise ValueError("not a relative path to a .py file")
        return value

    # -- derived values

    def pod_shape(self) -> PodShape:
        """One service pod's resources and server threads (workers None: derived from CPU)."""
        return PodShape.of(self.cpu, self.memory, self.workers or None, self.threads)

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


def _one_of(value: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise ValueError(f"not one of {', '.join(accepted)}")
    return value


def config_key(field_name: str) -> str:
    """`db_pool_size` -> `fwcap:dbPoolSize`, as written in a stack file."""
    return f"{PROJECT}:{to_camel(field_name)}"


def accepted(field_name: str) -> str:
    extra = Settings.model_fields[field_name].json_schema_extra
    assert isinstance(extra, dict)
    return str(extra["accepted"])


def _field_for_alias(alias: str) -> str | None:
    for name, field in Settings.model_fields.items():
        if field.alias == alias:
            return name
    return None


def _problem(field_name: str, value: object, why: str) -> str:
    return f"{config_key(field_name)} = {value!r}: {why}; accepted: {accepted(field_name)}"


def load_settings(raw: Mapping[str, object], project_dir: Path) -> Settings:
    """Validate raw stack values (keys without the `fwcap:` prefix) into Settings.

    Raises ConfigError listing every bad key, each with the value and what is accepted.
    """
    unknown = sorted(key for key in raw if _field_for_alias(key) is None)
    if unknown:
        known = ", ".join(f.alias or n for n, f in Settings.model_fields.items())
        raise ConfigError(
            "unknown stack config key(s): "
            + ", ".join(f"{PROJECT}:{k}" for k in unknown)
            + f"; accepted keys (each prefixed {PROJECT}:): {known}"
        )
    try:
        settings = Settings.model_validate(dict(raw))
    except ValidationError as exc:
        lines = []
        for p in problems(exc):
            name = _field_for_alias(p.field) or p.field
            # The key's own `accepted` text is said once, in place of the validator's.
            why = p.message.partition("; accepted: ")[0]
            lines.append(_problem(name, raw.get(p.field, p.value), why))
        raise ConfigError("bad stack config:\n  " + "\n  ".join(lines)) from None
    _check_combinations(settings, project_dir)
    return settings


def _check_combinations(settings: Settings, project_dir: Path) -> None:
    """Rules that span keys; each message names the key to set and what it accepts."""
    problems: list[str] = []
    if settings.ecr and not settings.build_images:
        problems.append(
            f"{config_key('ecr')} = true needs {config_key('build_images')} = true (the "
            "repositories are for the images this program builds); accepted: set one of them"
        )
    if settings.ebs_csi_driver and not (settings.eks_cluster_name and settings.storage_class):
        problems.append(
            f"{config_key('ebs_csi_driver')} = true needs {config_key('eks_cluster_name')} (the "
            f"cluster to add the driver to) and {config_key('storage_class')} (the gp3 class to "
            f"create, e.g. gp3); accepted: {accepted('eks_cluster_name')}"
        )
    if settings.build_images and not settings.registry and not settings.ecr:
        problems.append(
            f"{config_key('registry')} is required when {config_key('build_images')} is true "
            f"(the built images are pushed there); accepted: {REGISTRY_FORMS}; or set "
            f"{config_key('build_images')} false and give prebuilt images"
        )
    if not settings.build_images:
        for name in (*settings.frameworks, "upstream"):
            field = f"{name}_image"
            if not getattr(settings, field):
                problems.append(
                    f"{config_key(field)} is required when {config_key('build_images')} is "
                    f"false; accepted: {accepted(field)}"
                )
    if settings.monitoring_mode == "existing" and not settings.existing_prometheus_url:
        problems.append(
            f"{config_key('existing_prometheus_url')} is required when "
            f"{config_key('monitoring_mode')} is existing (capacity report reads that "
            f"Prometheus); accepted: {accepted('existing_prometheus_url')}"
        )
    if settings.hpa_enabled and settings.hpa_max_replicas < settings.replicas:
        problems.append(
            _problem(
                "hpa_max_replicas",
                settings.hpa_max_replicas,
                f"below {config_key('replicas')} = {settings.replicas}",
            )
        )
    if settings.monitoring_mode == "bundled":
        for field in ("node_cidrs", "api_server_cidrs"):
            if not getattr(settings, field):
                problems.append(
                    f"{config_key(field)} is required when {config_key('monitoring_mode')} is "
                    "bundled (the egress of Prometheus and kube-state-metrics names these "
                    "addresses instead of 0.0.0.0/0); find them with `kubectl get nodes -o wide` "
                    'and `kubectl get endpoints kubernetes` (docs/deploy.md, "Egress"); '
                    f"accepted: {accepted(field)}"
                )
    missing = [i for i in settings.third_party_images() if not settings.image_digest(i)]
    if missing:
        problems.append(
            "the stack pins no digest for "
            + ", ".join(i.tag_ref for i in missing)
            + " (every image runs by digest, so a re-pushed tag cannot change what runs); "
            + "resolve each and set it, e.g.\n    "
            + "\n    ".join(
                f"{config_key(f'{i.key}_image_digest')}: {images.resolve_commands(i)}"
                for i in missing
            )
            + f"\n  then `pulumi config set {config_key(f'{missing[0].key}_image_digest')} "
            'sha256:...` (docs/deploy.md, "Image pins"); accepted: ' + DIGEST_FORMS
        )
    locustfile = project_dir / settings.locustfile
    if not locustfile.is_file():
        problems.append(
            _problem("locustfile", settings.locustfile, f"no such file under {project_dir}")
        )
    if problems:
        raise ConfigError("bad stack config:\n  " + "\n  ".join(problems))


def raw_from_stack_values(values: Mapping[str, object]) -> dict[str, object]:
    """A stack file's `config:` mapping -> raw values for load_settings (only `fwcap:` keys)."""
    raw: dict[str, object] = {}
    for key, value in values.items():
        namespace, _, name = key.partition(":")
        if namespace == PROJECT and name:
            raw[name] = value
    return raw


def decode_pulumi_value(field_name: str, text: str) -> object:
    """Pulumi hands every config value over as text; lists arrive JSON-encoded."""
    if Settings.model_fields[field_name].annotation == tuple[str, ...]:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # a bare word: the validator names what is accepted
    return text


def settings_from_pulumi_config(project_dir: Path) -> Settings:
    """The running stack's settings (the program's only read of configuration)."""
    import pulumi  # the engine edge: imported here so the rest stays testable without it
    from pulumi.runtime import config as runtime_config

    config = pulumi.Config(PROJECT)
    raw: dict[str, object] = {}
    for name, field in Settings.model_fields.items():
        alias = field.alias or name
        text = config.get(alias)
        if text is not None:
            raw[alias] = decode_pulumi_value(name, text)
    # Keys Pulumi knows but Settings does not are typos; the per-key reads above cannot see them.
    present = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    for key in present:
        namespace, _, alias = key.partition(":")
        if namespace == PROJECT and alias not in raw:
            raw[alias] = config.get(alias)
    return load_settings(raw, project_dir)
