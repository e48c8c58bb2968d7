"""The node catalog: providers' node types, prices and node agents, loaded from YAML once.

The YAML (nodes.yaml beside this file, or a user's copy passed with --catalog) is validated
with pydantic at this boundary and turned into frozen dataclasses the model computes with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema

from capacity.errors import ConfigError
from capacity.numbers import NonNegative, PositiveShare
from capacity.quantity import CpuMillicores, MemoryBytes
from capacity.validation import describe_validation_error

DEFAULT_CATALOG = Path(__file__).with_name("nodes.yaml")
ReservationRule = Literal["eks", "gke", "aks"]
ControlPlaneTier = Literal["standard", "extended", "free"]
Arch = Literal["amd64", "arm64"]
AddonProfile = Literal["system", "monitoring", "loadgen"]
STALE_AFTER_DAYS = 180
# The values results.json publishes as they are: exactly their fields (capacity/report/schema.py).
_PUBLISHED = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Daemonset:
    # A node agent with one pod on every node: it takes a pod slot and its requests.
    # (A comment: a docstring would become a description in results.json's schema.)

    __pydantic_config__: ClassVar[ConfigDict] = _PUBLISHED

    name: str
    cpu_millicores: Annotated[int, Field(ge=0)]
    memory_bytes: Annotated[int, Field(ge=0)]
    source: str
    # A host-network pod shares the node's IP: it takes a max-pods slot but no pod IP.
    # (The model's input only; results.json does not publish it.)
    host_network: Annotated[bool, SkipJsonSchema(), Field(exclude=True)] = False


@dataclass(frozen=True)
class MemoryCapacityRule:
    """How the kubelet's memory capacity is derived from the nominal size (see the docs)."""

    rule: Literal["fraction", "gce_kernel"]
    overhead_fraction: float
    source: str


@dataclass(frozen=True)
class Addon:
    """A cluster pod beside the workload (DNS, metrics, the kit's monitoring): packed with it."""

    name: str
    profile: AddonProfile
    replicas: int
    cpu_millicores: int
    memory_bytes: int
    source: str


@dataclass(frozen=True)
class ControlPlane:
    """The managed control plane's fee per cluster-hour, per support tier."""

    default_tier: ControlPlaneTier
    usd_per_hour: Mapping[str, float]
    free_credit_usd_month: float
    url: str
    as_of: date
    note: str

    @property
    def source(self) -> str:
        return f"{self.note} ({self.url}, as of {self.as_of.isoformat()})"


@dataclass(frozen=True)
class PurchaseTerms:
    """Discounts off the on-demand list price; assumptions are marked so in their source."""

    spot_discount: float
    spot_source: str
    commit_1y_discount: float
    commit_1y_source: str
    as_of: date


@dataclass(frozen=True)
class Provider:
    key: str
    service: str
    region: str
    reservation: ReservationRule
    max_pods: int | None  # None: computed per node type from its ENIs (EKS)
    max_pods_source: str
    memory_capacity: MemoryCapacityRule
    daemonsets: tuple[Daemonset, ...]
    control_plane: ControlPlane | None = None
    purchase: PurchaseTerms | None = None
    addons: tuple[Addon, ...] = field(default=())


@dataclass(frozen=True)
class Burstable:
    # A burstable instance: CPU above its baseline is billed as surplus (T3 Unlimited).
    # (A comment: a docstring would become a description in results.json's schema.)

    __pydantic_config__: ClassVar[ConfigDict] = _PUBLISHED

    baseline_per_vcpu: PositiveShare
    surplus_usd_per_vcpu_hour: NonNegative
    source: str


@dataclass(frozen=True)
class NodeType:
    name: str
    provider: Provider
    vcpu: int
    memory_bytes: int
    usd_per_hour: float
    price_url: str
    price_as_of: date
    enis: int | None = None
    ipv4_per_eni: int | None = None
    max_pods_override: int | None = None
    note: str | None = None
    burstable: Burstable | None = None
    arch: Arch = "amd64"
    sustained_use_discount: float = 0.0
    sustained_use_source: str = ""

    @property
    def price_source(self) -> str:
        return (
            f"on-demand Linux list price, {self.provider.region}, {self.price_url}, "
            f"as of {self.price_as_of.isoformat()}"
        )


@dataclass(frozen=True)
class Catalog:
    path: Path
    node_types: tuple[NodeType, ...]

    @property
    def names(self) -> list[str]:
        return [node.name for node in self.node_types]

    @property
    def default_candidates(self) -> list[str]:
        """The node types a cost comparison tries unless told otherwise: amd64 only, because
        the measured capacity comes from amd64 images; ARM types are priced when named."""
        return [n.name for n in self.node_types if n.arch == "amd64"]

    def stale_prices(self, today: date, max_age_days: int = STALE_AFTER_DAYS) -> list[str]:
        """Every dated price older than max_age_days on `today`, one line each."""
        limit = today - timedelta(days=max_age_days)
        lines = [
            f"node type {n.name}: price ${n.usd_per_hour}/h as of {n.price_as_of.isoformat()} "
            f"({(today - n.price_as_of).days} days old; re-check {n.price_url})"
            for n in self.node_types
            if n.price_as_of < limit
        ]
        seen: set[str] = set()
        for n in self.node_types:
            p = n.provider
            if p.key in seen:
                continue
            seen.add(p.key)
            if p.control_plane is not None and p.control_plane.as_of < limit:
                lines.append(
                    f"provider {p.key}: control-plane fee as of {p.control_plane.as_of} "
                    f"({(today - p.control_plane.as_of).days} days old; re-check "
                    f"{p.control_plane.url})"
                )
            if p.purchase is not None and p.purchase.as_of < limit:
                lines.append(
                    f"provider {p.key}: spot/commitment discounts as of {p.purchase.as_of} "
                    f"({(today - p.purchase.as_of).days} days old)"
                )
        return lines

    def node(self, name: str) -> NodeType:
        for node in self.node_types:
            if node.name == name:
                return node
        raise ConfigError(
            f"unknown node type {name!r}; known node types: {', '.join(self.names)} "
            f"(catalog {self.path})"
        )


# ---- the YAML boundary -------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _DaemonsetIn(_Strict):
    name: str
    cpu: CpuMillicores
    memory: MemoryBytes
    source: str
    host_network: bool = False


class _MemoryCapacityIn(_Strict):
    rule: Literal["fraction", "gce_kernel"]
    overhead_fraction: float = Field(default=0.0, ge=0, lt=1)
    source: str


class _AddonIn(_Strict):
    name: str
    profile: AddonProfile = "system"
    replicas: int = Field(default=1, ge=1)
    cpu: CpuMillicores
    memory: MemoryBytes
    source: str


class _ControlPlaneIn(_Strict):
    default: ControlPlaneTier
    usd_per_hour: dict[ControlPlaneTier, float]
    free_credit_usd_month: float = Field(default=0.0, ge=0)
    url: str = Field(pattern=r"^https://")
    as_of: date
    note: str


class _PurchaseIn(_Strict):
    spot_discount: float = Field(ge=0, lt=1)
    spot_source: str
    commit_1y_discount: float = Field(ge=0, lt=1)
    commit_1y_source: str
    as_of: date


class _ProviderIn(_Strict):
    service: str
    region: str
    reservation: ReservationRule
    max_pods: int | Literal["eni"]
    max_pods_source: str
    memory_capacity: _MemoryCapacityIn
    daemonsets: list[_DaemonsetIn] = []
    control_plane: _ControlPlaneIn | None = None
    purchase: _PurchaseIn | None = None
    addons: list[_AddonIn] = []


class _PriceIn(_Strict):
    url: str = Field(pattern=r"^https://")
    as_of: date


class _BurstableIn(_Strict):
    baseline_per_vcpu: float = Field(gt=0, le=1)
    surplus_usd_per_vcpu_hour: float = Field(ge=0)
    source: str


class _NodeIn(_Strict):
    name: str
    provider: str
    vcpu: int = Field(ge=1)
    memory: MemoryBytes
    usd_per_hour: float = Field(gt=0)
    price: _PriceIn
    enis: int | None = Field(default=None, ge=1)
    ipv4_per_eni: int | None = Field(default=None, ge=2)
    max_pods: int | None = Field(default=None, ge=1)
    note: str | None = None
    burstable: _BurstableIn | None = None
    arch: Arch = "amd64"
    sustained_use_discount: float = Field(default=0.0, ge=0, lt=1)
    sustained_use_source: str = ""


class _CatalogIn(_Strict):
    schema_version: Literal[1]
    providers: dict[str, _ProviderIn]
    kit_addons: list[_AddonIn] = []
    node_types: list[_NodeIn] = Field(min_length=1)


def _addon(raw: _AddonIn) -> Addon:
    return Addon(
        raw.name,
        raw.profile,
        raw.replicas,
        raw.cpu,
        raw.memory,
        raw.source,
    )


def _provider(key: str, raw: _ProviderIn, kit_addons: tuple[Addon, ...] = ()) -> Provider:
    cp = raw.control_plane
    if cp is not None and cp.default not in cp.usd_per_hour:
        raise ConfigError(
            f"provider {key!r}: control_plane.default {cp.default!r} has no usd_per_hour entry "
            f"(tiers given: {', '.join(cp.usd_per_hour)})"
        )
    buy = raw.purchase
    return Provider(
        key=key,
        service=raw.service,
        region=raw.region,
        reservation=raw.reservation,
        max_pods=None if raw.max_pods == "eni" else raw.max_pods,
        max_pods_source=raw.max_pods_source,
        memory_capacity=MemoryCapacityRule(
            raw.memory_capacity.rule,
            raw.memory_capacity.overhead_fraction,
            raw.memory_capacity.source,
        ),
        daemonsets=tuple(
            Daemonset(d.name, d.cpu, d.memory, d.source, d.host_network) for d in raw.daemonsets
        ),
        control_plane=None
        if cp is None
        else ControlPlane(
            cp.default,
            {str(k): v for k, v in cp.usd_per_hour.items()},
            cp.free_credit_usd_month,
            cp.url,
            cp.as_of,
            cp.note,
        ),
        purchase=None
        if buy is None
        else PurchaseTerms(
            buy.spot_discount,
            buy.spot_source,
            buy.commit_1y_discount,
            buy.commit_1y_source,
            buy.as_of,
        ),
        addons=tuple(_addon(a) for a in raw.addons) + kit_addons,
    )


def _node(raw: _NodeIn, providers: dict[str, Provider], path: Path) -> NodeType:
    provider = providers.get(raw.provider)
    if provider is None:
        raise ConfigError(
            f"{path}: node type {raw.name!r} names provider {raw.provider!r}; "
            f"known providers: {', '.join(providers)}"
        )
    if (
        provider.max_pods is None
        and raw.max_pods is None
        and (raw.enis is None or raw.ipv4_per_eni is None)
    ):
        raise ConfigError(
            f"{path}: node type {raw.name!r} needs enis and ipv4_per_eni (its provider computes "
            "max pods from ENIs) or an explicit max_pods"
        )
    return NodeType(
        name=raw.name,
        provider=provider,
        vcpu=raw.vcpu,
        memory_bytes=raw.memory,
        usd_per_hour=raw.usd_per_hour,
        price_url=raw.price.url,
        price_as_of=raw.price.as_of,
        enis=raw.enis,
        ipv4_per_eni=raw.ipv4_per_eni,
        max_pods_override=raw.max_pods,
        note=raw.note,
        burstable=None
        if raw.burstable is None
        else Burstable(
            raw.burstable.baseline_per_vcpu,
            raw.burstable.surplus_usd_per_vcpu_hour,
            raw.burstable.source,
        ),
        arch=raw.arch,
        sustained_use_discount=raw.sustained_use_discount,
        sustained_use_source=raw.sustained_use_source,
    )


def load_catalog(path: Path | None = None) -> Catalog:
    """The built-in catalog, or a user's copy; every problem names the file and the field."""
    source = Path(path) if path is not None else DEFAULT_CATALOG
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"node catalog {source} does not exist") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"node catalog {source} cannot be read as YAML: {exc}") from exc
    try:
        parsed = _CatalogIn.model_validate(data)
    except ValidationError as exc:
        problem = describe_validation_error(exc, whole="catalog", limit=1)
        raise ConfigError(f"node catalog {source}: {problem}") from exc
    try:
        kit_addons = tuple(_addon(a) for a in parsed.kit_addons)
        providers = {key: _provider(key, raw, kit_addons) for key, raw in parsed.providers.items()}
    except ConfigError as exc:
        raise ConfigError(f"node catalog {source}: {exc}") from exc
    nodes = tuple(_node(raw, providers, source) for raw in parsed.node_types)
    names = [n.name for n in nodes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"node catalog {source}: duplicate node types {duplicates}")
    return Catalog(path=source, node_types=nodes)
