"""The one place the stack's settings (StackSettings) are cut into what each component needs:
every component takes a few plain values (its own frozen dataclass), so it can be read, and built
in a test, without knowing the rest of the stack's config."""

from __future__ import annotations

from dataclasses import replace

from deploy import images
from deploy.service import KitImages
from deploy.setting_types import image_of
from deploy.settings import StackSettings
from deploy.specs.locust import LocustInputs
from deploy.specs.monitoring import BundledMonitoring, ExistingMonitoring, MonitoringInputs
from deploy.specs.network import Scrapers
from deploy.specs.placement import PodPlacement
from deploy.specs.postgres import PostgresBackup, PostgresInputs
from deploy.specs.service_chart import ScaleDown, ServiceChartInputs
from deploy.upstream import UpstreamInputs


def pinned(settings: StackSettings, image: images.ThirdPartyImage) -> str:
    """The stack's pin of a third-party image: tag and digest (load_settings made sure of it)."""
    return images.pinned(image, settings.image_digest(image))


def load_placement(settings: StackSettings) -> PodPlacement:
    """PostgreSQL and the stub: on the load pool, if any."""
    return PodPlacement(pool=settings.load_pool)


def noisy_placement(settings: StackSettings) -> PodPlacement:
    """Locust and monitoring share nodes with neither the service under test nor (when pools
    are set) its pool."""
    return PodPlacement(pool=settings.load_pool, avoid=("service",))


def scrapers(settings: StackSettings) -> Scrapers:
    return Scrapers(settings.monitoring_mode, settings.monitoring_namespace)


def kit_images(settings: StackSettings) -> KitImages:
    return KitImages(
        build=settings.build_images,
        # Only the deployed ones: load_settings requires those (and no others) when not building.
        prebuilt={}
        if settings.build_images
        else {
            n: settings.prebuilt_image(n)
            for n in dict.fromkeys((*map(image_of, settings.frameworks), "upstream"))
        },
        tag=settings.image_tag,
        base_image=pinned(settings, images.PYTHON),
        platform=settings.resolved_build_platform(),
    )


def service_chart_inputs(settings: StackSettings, framework: str) -> ServiceChartInputs:
    """The framework's chart inputs: its fwcap:sizing entry, if any, in place of the stack-wide
    pod size, replicas and autoscaler."""
    stack_wide = ServiceChartInputs(
        namespace=settings.namespace,
        replicas=settings.replicas,
        cpu_request=settings.cpu,
        cpu_limit=settings.cpu,
        memory=settings.memory,
        workers=settings.workers,
        threads=settings.threads,
        db_pool_size=settings.db_pool_size,
        image_pull_policy=settings.image_pull_policy,
        hpa_enabled=settings.hpa_enabled,
        hpa_min_replicas=settings.replicas,
        hpa_max_replicas=settings.hpa_max_replicas,
        hpa_cpu_utilization_percent=settings.hpa_cpu_utilization_percent,
        hpa_scale_down=None,
        migration_cpu=settings.migration_cpu,
        migration_memory=settings.migration_memory,
        service_pool=settings.service_pool,
        scrapers=scrapers(settings),
        prometheus_release_label=settings.prometheus_release_label,
        scrape_interval_seconds=settings.scrape_interval_seconds,
    )
    sized = settings.sizing.get(framework)
    if sized is None:
        return stack_wide
    hpa = sized.hpa
    return replace(
        stack_wide,
        replicas=sized.replicas,
        cpu_request=sized.cpu_request,
        cpu_limit=sized.cpu_limit,
        memory=sized.memory,
        workers=sized.workers,
        threads=settings.threads if sized.threads is None else sized.threads,
        # A measured sizing always comes with its autoscaler (the report derives both).
        hpa_enabled=True,
        hpa_min_replicas=hpa.min_replicas,
        hpa_max_replicas=hpa.max_replicas,
        hpa_cpu_utilization_percent=hpa.target_cpu_utilization_percentage,
        hpa_scale_down=ScaleDown(
            hpa.scale_down_stabilization_seconds, hpa.scale_down_percent_per_minute
        ),
    )


def postgres_inputs(settings: StackSettings) -> PostgresInputs:
    backup = (
        PostgresBackup(
            settings.postgres_backup_schedule,
            settings.postgres_backup_storage,
            settings.postgres_backup_keep,
        )
        if settings.postgres_backup_schedule
        else None
    )
    return PostgresInputs(
        namespace=settings.namespace,
        frameworks=settings.frameworks,
        image=pinned(settings, images.POSTGRES),
        cpu=settings.postgres_cpu,
        memory=settings.postgres_memory,
        max_connections=settings.postgres_max_connections,
        storage=settings.postgres_storage,
        storage_class=settings.storage_class,
        placement=load_placement(settings),
        backup=backup,
    )


def upstream_inputs(settings: StackSettings) -> UpstreamInputs:
    return UpstreamInputs(
        namespace=settings.namespace,
        images=kit_images(settings),
        pull_policy=settings.image_pull_policy,
        cpu=settings.upstream_cpu,
        placement=load_placement(settings),
    )


def locust_inputs(settings: StackSettings) -> LocustInputs:
    return LocustInputs(
        namespace=settings.namespace,
        image=pinned(settings, images.LOCUST),
        master_cpu=settings.locust_master_cpu,
        master_memory=settings.locust_master_memory,
        workers=settings.locust_workers,
        worker_cpu=settings.locust_cpu,
        worker_memory=settings.locust_memory,
        placement=noisy_placement(settings),
        scrapers=scrapers(settings),
    )


def monitoring_inputs(settings: StackSettings) -> MonitoringInputs:
    stack: BundledMonitoring | ExistingMonitoring
    if settings.monitoring_mode == "existing":
        stack = ExistingMonitoring(
            prometheus_url=settings.existing_prometheus_url,
            grafana_url=settings.existing_grafana_url,
            release_label=settings.prometheus_release_label,
            scrape_interval_seconds=settings.scrape_interval_seconds,
        )
    else:
        stack = BundledMonitoring(
            prometheus_image=pinned(settings, images.PROMETHEUS),
            prometheus_cpu=settings.prometheus_cpu,
            prometheus_memory=settings.prometheus_memory,
            prometheus_retention=settings.prometheus_retention,
            prometheus_storage=settings.prometheus_storage,
            storage_class=settings.storage_class,
            scrape_interval_seconds=settings.scrape_interval_seconds,
            node_cidrs=settings.node_cidrs,
            api_server_cidrs=settings.api_server_cidrs,
            ksm_image=pinned(settings, images.KUBE_STATE_METRICS),
            grafana_image=pinned(settings, images.GRAFANA),
            grafana_cpu=settings.grafana_cpu,
            grafana_memory=settings.grafana_memory,
        )
    return MonitoringInputs(settings.namespace, noisy_placement(settings), stack)
