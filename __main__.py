"""`pulumi up`: the whole kit in one namespace, sized by the stack's config (deploy/settings.py).

Reads one validated settings object (a bad stack config stops here, before any resource), then
composes the components of deploy/ and exports what `capacity report --stack` needs.
"""

from pathlib import Path

import pulumi

from deploy.aws import EbsStorage, EcrRepositories
from deploy.files import read_kit_files
from deploy.inputs import (
    kit_images,
    locust_inputs,
    monitoring_inputs,
    postgres_inputs,
    service_chart_inputs,
    upstream_inputs,
)
from deploy.locust import Locust
from deploy.monitoring import Monitoring
from deploy.namespace import KitNamespace
from deploy.postgres import InClusterPostgres
from deploy.service import IMAGES, FrameworkService, ImageTarget, image_build, registry_target
from deploy.stack_config import settings_from_pulumi_config
from deploy.upstream import UpstreamStub

PROJECT_DIR = Path(__file__).resolve().parent

settings = settings_from_pulumi_config(PROJECT_DIR)
files = read_kit_files(PROJECT_DIR, settings.locustfile)

if settings.ecr:
    ecr = EcrRepositories("ecr", {name: image_build(name).repository for name in IMAGES})
    target = ImageTarget(ecr.repositories, [ecr.registry])
else:
    target = registry_target(settings.registry)
# PostgreSQL's volume needs the driver and its StorageClass first.
storage = (
    [EbsStorage("ebs", settings.eks_cluster_name, settings.storage_class)]
    if settings.ebs_csi_driver
    else []
)

namespace = KitNamespace("fwcap", settings.namespace)
ns = namespace.name
postgres = InClusterPostgres(
    "postgres", postgres_inputs(settings), ns, opts=pulumi.ResourceOptions(depends_on=storage)
)
upstream = UpstreamStub("upstream-stub", upstream_inputs(settings), ns, target)
# After PostgreSQL is ready, so each chart's migration Job finds its database on first try.
after_postgres = pulumi.ResourceOptions(depends_on=[postgres])
images = kit_images(settings)
services = {
    framework: FrameworkService(
        framework,
        service_chart_inputs(settings, framework),
        images,
        ns,
        postgres.database_secrets[framework],
        target,
        opts=after_postgres,
    )
    for framework in settings.frameworks
}
locust = Locust("locust", locust_inputs(settings), ns, files)
monitoring = Monitoring(
    "monitoring",
    monitoring_inputs(settings),
    ns,
    files,
    opts=pulumi.ResourceOptions(depends_on=storage),
)

pulumi.export("namespace", ns)
pulumi.export("serviceUrls", {framework: svc.url for framework, svc in services.items()})
pulumi.export("upstreamUrl", upstream.url)
pulumi.export("prometheusUrl", monitoring.prometheus_url)
pulumi.export("grafanaUrl", monitoring.grafana_url)
pulumi.export("locustUrl", locust.url)
# The Locust master's web API asks for these (Basic auth; deploy/locust_plugins/web_auth.py).
pulumi.export("locustWebUser", locust.web_user)
pulumi.export("locustWebPassword", locust.web_password)
pulumi.export("grafanaAdminPassword", monitoring.grafana_admin_password)
