"""The kinds of value a stack setting accepts, each an Annotated type for deploy/settings.py.

Each check raises ValueError saying what is wrong with the value; load_settings adds the key and
the setting's `accepted` text, so the checks need not repeat them.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from capacity.frameworks import REFERENCE
from capacity.quantity import (
    MIB,
    CpuQuantity,
    MemoryQuantity,
    cpu_at_least,
    kubectl_cpu,
    kubectl_memory,
    memory_at_least,
    memory_text,
)
from deploy.images import parse_image_ref

# The services the program can deploy: the reference ones (what a stack deploys unless its
# fwcap:frameworks says otherwise) and Django's async variant (the lean variants run locally only).
FRAMEWORKS = (*REFERENCE, "django-async")
# The images the kit builds; a framework that is a variant of another runs that one's image.
IMAGE_NAMES = REFERENCE
_IMAGE_OF = {"django-async": "django"}


def image_of(framework: str) -> str:
    """The image `framework` runs: django-async is the django image with SERVICE_VARIANT=async."""
    return _IMAGE_OF.get(framework, framework)


MONITORING_MODES = ("bundled", "existing")
PULL_POLICIES = ("IfNotPresent", "Always", "Never")
BUILD_PLATFORMS = ("linux/amd64", "linux/arm64", "host")

REGISTRY_FORMS = (
    "host[:port][/path] without a scheme, e.g. localhost:5001 or "
    "123456789012.dkr.ecr.us-east-1.amazonaws.com"
)
DIGEST_FORMS = "sha256: and 64 lowercase hex digits, as `crane digest <image>` prints it"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?" + rf"(/{_PATH_COMPONENT})*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_CRON = re.compile(r"^(@(hourly|daily|weekly|monthly)|(\S+\s+){4}\S+)$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_DURATION = re.compile(r"^[1-9][0-9]*(h|d|w)$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_EKS_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")
_memory_at_least_1mi = memory_at_least(MIB)


def _one_of(accepted: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in accepted:
            raise ValueError(f"not one of {', '.join(accepted)}")
        return value

    return AfterValidator(check)


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError("not a DNS label")
    return value


def _frameworks(value: object) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        raise ValueError("not a non-empty list")
    for name in names:
        if name not in FRAMEWORKS:
            raise ValueError(f"unknown framework {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{list(names)!r} names a framework twice")
    return tuple(str(n) for n in names)


def _cidrs(value: object) -> tuple[str, ...]:
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


def _schedule(value: str) -> str:
    value = value.strip()
    if value and not _CRON.match(value):
        raise ValueError("not a cron schedule")
    return value


def _registry(value: str) -> str:
    value = value.strip().rstrip("/")
    if value and not _REGISTRY.match(value):
        raise ValueError("not a registry address")
    return value


def _image_tag(value: str) -> str:
    if value and (value == "latest" or not _TAG.match(value)):
        raise ValueError("not a fixed image tag")
    return value


def _image_ref(value: str) -> str:
    if value and not parse_image_ref(value).digest:
        raise ValueError("no @sha256: digest (a tag alone can be re-pushed)")
    return value.strip()


def _digest(value: str) -> str:
    value = value.strip()
    if value and not _DIGEST.match(value):
        raise ValueError("not an image digest")
    return value


def _eks_cluster_name(value: str) -> str:
    if value and not _EKS_CLUSTER_NAME.match(value):
        raise ValueError("not an EKS cluster name")
    return value


def _storage_class(value: str) -> str:
    if value and not _DNS_SUBDOMAIN.match(value):
        raise ValueError("not a StorageClass name")
    return value


def _retention(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError("not a duration")
    return value


def _url(value: str) -> str:
    if value and not _URL.match(value):
        raise ValueError("not an http(s) URL")
    return value.rstrip("/")


def _optional_memory(value: object) -> str:
    if value in ("", None):
        return ""
    return kubectl_memory(_memory_at_least_1mi(memory_text(value)))


def _node_type(value: str) -> str:
    if value and value != "kind" and not _DNS_SUBDOMAIN.match(value):
        raise ValueError("not 'kind' or a node type name")
    return value


def _label_value(value: str) -> str:
    if not _LABEL_VALUE.match(value):
        raise ValueError("not a label value")
    return value


def _python_file(value: str) -> str:
    if not value.endswith(".py") or Path(value).is_absolute() or ".." in Path(value).parts:
        raise ValueError("not a relative path to a .py file")
    return value


# A pod's CPU and memory (request = limit), stored as `kubectl` prints them.
Cpu = Annotated[CpuQuantity, AfterValidator(cpu_at_least(1)), AfterValidator(kubectl_cpu)]
Memory = Annotated[
    MemoryQuantity, AfterValidator(memory_at_least(MIB)), AfterValidator(kubectl_memory)
]
OptionalMemory = Annotated[str, BeforeValidator(_optional_memory)]  # empty: not set
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Frameworks = Annotated[tuple[str, ...], BeforeValidator(_frameworks)]
Cidrs = Annotated[tuple[str, ...], BeforeValidator(_cidrs)]
CronSchedule = Annotated[str, AfterValidator(_schedule)]  # empty: off
Registry = Annotated[str, AfterValidator(_registry)]
ImageTag = Annotated[str, AfterValidator(_image_tag)]
PinnedImageRef = Annotated[str, AfterValidator(_image_ref)]
Digest = Annotated[str, AfterValidator(_digest)]
BuildPlatform = Annotated[str, _one_of(BUILD_PLATFORMS)]
PullPolicy = Annotated[str, _one_of(PULL_POLICIES)]
MonitoringMode = Annotated[str, _one_of(MONITORING_MODES)]
EksClusterName = Annotated[str, AfterValidator(_eks_cluster_name)]
StorageClassName = Annotated[str, AfterValidator(_storage_class)]
Retention = Annotated[str, AfterValidator(_retention)]
HttpUrl = Annotated[str, AfterValidator(_url)]
NodeType = Annotated[str, AfterValidator(_node_type)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
RelativePythonFile = Annotated[str, AfterValidator(_python_file)]
