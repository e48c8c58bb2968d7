"""Acceptance 1: the real Pulumi program, run under `pulumi.runtime.set_mocks` for every stack file
in stacks/ (and two variants), registers the expected resource graph: names, images, replicas,
resources, probes, security context, and the wiring service -> DB secret, Prometheus -> targets,
Grafana -> Prometheus."""

from __future__ import annotations

import json
from typing import Any

import yaml

from capacity.metrics.prometheus_config import render_prometheus_config
from capacity.quantity import parse_cpu_millicores, parse_memory_bytes
from deploy.images import ImageRef
from deploy.inputs import kit_images, service_chart_inputs
from deploy.service import content_tag, image_build
from deploy.setting_types import image_of
from deploy.specs.service_chart import service_chart_values
from tests.deploy.conftest import CHART_TYPE, Deployed, deployed
from tests.deploy.harness import (
    MOCK_DIGEST,
    MOCK_ECR_REGISTRY,
    MOCK_ECR_TOKEN,
    MOCK_PASSWORD,
    ROOT,
    stack_files,
)

NS_TYPE = "kubernetes:core/v1:Namespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
IMAGE = "docker-build:index:Image"


def _cfg(case: Deployed, key: str) -> Any:
    """The configured value, falling back to Pulumi.yaml's default (what the engine passes)."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    return case.values.get(f"fwcap:{key}", project[key]["default"])


def _frameworks(case: Deployed) -> list[str]:
    return list(_cfg(case, "frameworks"))


def _by_name(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
    return found[0]


def _workload(case: Deployed, name: str) -> dict[str, Any]:
    return case.run.one(DEPLOYMENT, name).inputs


def _container(manifest: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    containers = manifest["spec"]["template"]["spec"]["containers"]
    if name is None:
        assert len(containers) == 1
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_namespace_is_configured_and_enforces_the_restricted_profile(case: Deployed) -> None:
    [ns] = case.run.of_type(NS_TYPE)
    assert ns.inputs["metadata"]["name"] == _cfg(case, "namespace")
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    namespaced = [m for m in case.run.manifests() if m["kind"] not in ("Namespace",)]
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "StorageClass"}
    # Nothing goes into another team's namespace (the dashboards for an existing Grafana too).
    for m in namespaced:
        if m["kind"] in cluster_scoped:
            assert "namespace" not in m["metadata"]
        else:
            assert m["metadata"]["namespace"] == _cfg(case, "namespace"), m["metadata"]


def test_each_framework_is_one_release_of_the_local_chart(case: Deployed) -> None:
    charts = {c.name: c.inputs for c in case.run.of_type(CHART_TYPE)}
    assert sorted(charts) == sorted(_frameworks(case))
    for framework, chart in charts.items():
        assert chart["chart"] == "./charts/fwcap-service"
        assert chart["name"] == framework
        assert chart["namespace"] == _cfg(case, "namespace")


def test_chart_values_come_from_the_pure_builder(case: Deployed) -> None:
    """The values the program passed are exactly service_chart_values(...), so rendering that
    function's output in tests renders what the cluster gets."""
    for chart in case.run.of_type(CHART_TYPE):
        framework = chart.name
        image = chart.inputs["values"]["image"]
        expected = service_chart_values(
            service_chart_inputs(case.settings, framework),
            framework,
            ImageRef(image["repository"], image["tag"], image["digest"]),
            f"fwcap-db-{framework}",
        )
        assert json.loads(json.dumps(expected)) == chart.inputs["values"]


def test_images_are_built_and_pushed_to_the_stack_registry_or_taken_from_config(
    case: Deployed,
) -> None:
    images = {i.name: i.inputs for i in case.run.of_type(IMAGE)}
    if _cfg(case, "buildImages"):
        if _cfg(case, "ecr"):
            registry = MOCK_ECR_REGISTRY  # the repositories' URLs (deploy/aws.py)
            for build in images.values():
                [creds] = build["registries"]
                assert creds["address"] == MOCK_ECR_REGISTRY
                assert creds["username"] == "AWS" and creds["password"] == MOCK_ECR_TOKEN
        else:
            registry = _cfg(case, "registry")
            assert all(not build.get("registries") for build in images.values())
        assert sorted(images) == sorted(
            [f"{fw}-image" for fw in _frameworks(case)] + ["upstream-image"]
        )
        for fw in _frameworks(case):
            build = images[f"{fw}-image"]
            image = image_of(fw)  # django-async runs the django image
            base = kit_images(case.settings).base_image
            tag = _cfg(case, "imageTag") or content_tag(image_build(image), base_image=base)
            assert build["push"] is True
            named = build["context"]["named"]
            assert named == {"python:3.12.11-slim-bookworm": {"location": f"docker-image://{base}"}}
            assert "@sha256:" in base
            assert build["tags"] == [f"{registry}/fwcap-{image}:{tag}"]
            # Staged: the service's directory with services/asgi_server beside its files.
            assert build["context"]["location"] == f".build/images/{image}"
            assert "asgi_server/http_limits.py" in image_build(image).staged
            assert build["dockerfile"]["location"] == f"services/{image}/Dockerfile"
            assert build["platforms"] == [case.settings.resolved_build_platform()]
            assert build["platforms"][0] in ("linux/amd64", "linux/arm64")
            values = case.run.one(CHART_TYPE, fw).inputs["values"]["image"]
            assert values == {
                "repository": f"{registry}/fwcap-{image}",
                "tag": tag,
                "digest": MOCK_DIGEST,  # the pushed digest pins the pods
                "pullPolicy": _cfg(case, "imagePullPolicy"),
            }
        stub = _container(_workload(case, "upstream-stub"))
        stub_tag = _cfg(case, "imageTag") or content_tag(
            image_build("upstream"), base_image=kit_images(case.settings).base_image
        )
        assert stub["image"] == f"{registry}/fwcap-upstream-stub:{stub_tag}@{MOCK_DIGEST}"
    else:
        assert images == {}
        for fw in _frameworks(case):
            values = case.run.one(CHART_TYPE, fw).inputs["values"]["image"]
            ref = _cfg(case, f"{fw}Image")
            assert ref.startswith(f"{values['repository']}:{values['tag']}")
            assert ref.endswith(values["digest"])
        assert _container(_workload(case, "upstream-stub"))["image"] == _cfg(case, "upstreamImage")


def test_rendered_services_have_the_configured_replicas_resources_and_probes(
    case: Deployed,
) -> None:
    cpu_m = parse_cpu_millicores(str(_cfg(case, "cpu")))
    memory = parse_memory_bytes(str(_cfg(case, "memory")))
    for framework, manifests in case.charts.items():
        if framework in case.settings.sizing:
            continue  # its own sizing, not the stack-wide keys: test_sizing.py
        deployment = _by_name(manifests, "Deployment", framework)
        if _cfg(case, "hpaEnabled"):
            assert "replicas" not in deployment["spec"]  # the autoscaler owns it
            hpa = _by_name(manifests, "HorizontalPodAutoscaler", framework)
            assert hpa["spec"]["minReplicas"] == _cfg(case, "replicas")
            assert hpa["spec"]["maxReplicas"] == _cfg(case, "hpaMaxReplicas")
        else:
            assert deployment["spec"]["replicas"] == _cfg(case, "replicas")
            assert not [m for m in manifests if m["kind"] == "HorizontalPodAutoscaler"]
        container = _container(deployment)
        assert container["name"] == framework  # PromQL selects cAdvisor series by it
        for kind in ("requests", "limits"):
            assert parse_cpu_millicores(container["resources"][kind]["cpu"]) == cpu_m
            assert parse_memory_bytes(container["resources"][kind]["memory"]) == memory
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        env = _env(container)
        assert env["CPU_LIMIT_MILLICORES"] == {
            "resourceFieldRef": {
                "containerName": framework,
                "resource": "limits.cpu",
                "divisor": "1m",
            }
        }
        assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
        workers = _cfg(case, "workers")
        assert env.get("WORKERS") == (str(workers) if workers else None)
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        account = _by_name(manifests, "ServiceAccount", pod["serviceAccountName"])
        assert account["automountServiceAccountToken"] is False
        for kind in ("Service", "NetworkPolicy"):
            assert _by_name(manifests, kind, framework)
        pdbs = [m for m in manifests if m["kind"] == "PodDisruptionBudget"]
        # A PDB protects nothing with one replica.
        assert len(pdbs) == (1 if _cfg(case, "replicas") > 1 else 0)


def test_services_read_database_url_from_the_secret_postgres_created(case: Deployed) -> None:
    namespace = _cfg(case, "namespace")
    for framework, manifests in case.charts.items():
        secret = case.run.one(SECRET, f"postgres-db-{framework}").inputs
        url = secret["stringData"]["DATABASE_URL"]
        # Its own role (not the superuser), owner of its own database only.
        assert url == (
            f"postgresql://{framework}:{MOCK_PASSWORD}@postgres.{namespace}.svc:5432/{framework}"
        )
        refs = [
            _env(c)["DATABASE_URL"]["secretKeyRef"]
            for m in manifests
            if m["kind"] in ("Deployment", "Job")
            for c in [
                *m["spec"]["template"]["spec"].get("initContainers", []),
                *m["spec"]["template"]["spec"]["containers"],
            ]
        ]
        assert len(refs) == 3  # the service, and the Job's migrate and seed containers
        assert all(r == {"name": secret["metadata"]["name"], "key": "DATABASE_URL"} for r in refs)
        job = next(m for m in manifests if m["kind"] == "Job")
        commands = [
            c["command"]
            for c in job["spec"]["template"]["spec"]["initContainers"]
            + job["spec"]["template"]["spec"]["containers"]
        ]
        assert commands == [["python", "launch.py", "migrate"], ["python", "launch.py", "seed"]]
        # helm.v4.Chart skips hook resources, so the Job must not be one.
        assert "helm.sh/hook" not in (job["metadata"].get("annotations") or {})


def test_postgres_has_a_volume_a_generated_password_and_one_database_per_framework(
    case: Deployed,
) -> None:
    sts = case.run.one("kubernetes:apps/v1:StatefulSet", "postgres").inputs
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert parse_memory_bytes(claim["spec"]["resources"]["requests"]["storage"]) == (
        parse_memory_bytes(str(_cfg(case, "postgresStorage")))
    )
    container = _container(sts)
    env = _env(container)
    admin = case.run.one(SECRET, "postgres-admin").inputs
    assert env["POSTGRES_PASSWORD"]["secretKeyRef"]["name"] == admin["metadata"]["name"]
    assert admin["stringData"]["POSTGRES_PASSWORD"] == MOCK_PASSWORD  # from pulumi_random
    assert case.run.one("random:index/randomPassword:RandomPassword", "postgres-password")
    init = case.run.one(SECRET, "postgres-init").inputs  # it holds the roles' passwords
    sql = "\n".join(init["stringData"].values())
    for framework in _frameworks(case):
        assert f'CREATE DATABASE "{framework}" OWNER "{framework}"' in sql
        assert f'CREATE ROLE "{framework}" LOGIN NOSUPERUSER' in sql
        assert case.run.one(
            "random:index/randomPassword:RandomPassword", f"postgres-{framework}-password"
        )
    cpu = parse_cpu_millicores(str(_cfg(case, "postgresCpu")))
    assert parse_cpu_millicores(container["resources"]["limits"]["cpu"]) == cpu
    policy = case.run.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "postgres-policy").inputs
    [rule] = policy["spec"]["ingress"]
    [peer] = rule["from"]
    backup = ["postgres-backup"] if case.settings.postgres_backup_schedule else []
    assert sorted(peer["podSelector"]["matchExpressions"][0]["values"]) == sorted(
        ["migration", "service", *backup]
    )
    assert policy["spec"]["egress"] == []


def test_prometheus_gets_the_shared_template_and_can_discover_its_targets(case: Deployed) -> None:
    if _cfg(case, "monitoringMode") != "bundled":
        assert not [d for d in case.run.of_type(DEPLOYMENT) if d.name in ("prometheus", "grafana")]
        return
    namespace = _cfg(case, "namespace")
    config = case.run.one(CONFIG_MAP, "prometheus-config").inputs
    expected = render_prometheus_config(
        mode="kubernetes",
        namespace=namespace,
        scrape_interval_s=_cfg(case, "scrapeIntervalSeconds"),
    )
    assert config["data"]["prometheus.yml"] == expected
    deployment = _workload(case, "prometheus")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert "--config.file=/etc/prometheus/prometheus.yml" in container["args"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts["/etc/prometheus"]]["configMap"]["name"] == config["metadata"]["name"]
    # RBAC: the pod's service account may read nodes through the proxy and discover pods.
    account = case.run.one("kubernetes:core/v1:ServiceAccount", "prometheus-account").inputs
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is True  # the config reads its token
    cluster_role = case.run.one(
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "prometheus-nodes"
    )
    # (tests/deploy/test_rbac.py: exactly what the scrape config uses, no nodes/proxy)
    assert cluster_role.inputs["rules"]
    binding = case.run.one(
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "prometheus-nodes"
    ).inputs
    assert binding["roleRef"]["name"] == cluster_role.inputs["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": namespace}
    ]
    role = case.run.one("kubernetes:rbac.authorization.k8s.io/v1:Role", "prometheus-discovery")
    [rule] = role.inputs["rules"]
    assert set(rule["resources"]) == {"pods"} and set(rule["verbs"]) == {"list", "watch"}
    # The targets carry what the config keeps: the services' pods...
    for framework, manifests in case.charts.items():
        template = _by_name(manifests, "Deployment", framework)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        port = _container(_by_name(manifests, "Deployment", framework))["ports"][0]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(port["containerPort"])
        assert annotations["prometheus.io/path"] == "/metrics"
        assert template["metadata"]["labels"]["app.kubernetes.io/component"] == "service"
    # ... and the Locust master, by label and the port named `web`.
    master = _workload(case, "locust-master")
    assert master["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == (
        "locust-master"
    )
    assert "web" in [p["name"] for p in _container(master)["ports"]]
    assert _container(master)["name"] == "locust"


def test_grafana_is_provisioned_against_the_bundled_prometheus(case: Deployed) -> None:
    if _cfg(case, "monitoringMode") != "bundled":
        return
    namespace = _cfg(case, "namespace")
    prometheus = case.run.one(SERVICE, "prometheus-service").inputs
    [port] = prometheus["spec"]["ports"]
    prometheus_url = f"http://{prometheus['metadata']['name']}.{namespace}.svc:{port['port']}"
    grafana = _workload(case, "grafana")
    container = _container(grafana)
    env = _env(container)
    assert env["FWCAP_PROMETHEUS_URL"] == prometheus_url
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    admin = case.run.one(SECRET, "grafana-admin").inputs
    assert env["GF_SECURITY_ADMIN_PASSWORD"]["secretKeyRef"] == {
        "name": admin["metadata"]["name"],
        "key": "admin-password",
    }
    assert admin["stringData"]["admin-password"] == MOCK_PASSWORD
    volumes = {v["name"]: v for v in grafana["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}

    def mounted_config_map(path: str) -> dict[str, Any]:
        name = volumes[mounts[path]]["configMap"]["name"]
        return next(
            c.inputs for c in case.run.of_type(CONFIG_MAP) if c.inputs["metadata"]["name"] == name
        )

    datasources = mounted_config_map("/etc/grafana/provisioning/datasources")["data"]
    assert datasources == {
        p.name: p.read_text() for p in (ROOT / "grafana/provisioning/datasources").glob("*.yaml")
    }
    [source] = [s for text in datasources.values() for s in yaml.safe_load(text)["datasources"]]
    assert source["type"] == "prometheus" and source["url"] == "${FWCAP_PROMETHEUS_URL}"
    providers = mounted_config_map("/etc/grafana/provisioning/dashboards")["data"]
    [provider] = [p for text in providers.values() for p in yaml.safe_load(text)["providers"]]
    assert provider["options"]["path"] == "${FWCAP_DASHBOARDS_DIR}"
    dashboards = mounted_config_map(env["FWCAP_DASHBOARDS_DIR"])["data"]
    expected = sorted(p.name for p in (ROOT / "grafana/dashboards").glob("*.json"))
    assert sorted(dashboards) == expected and expected
    assert case.run.exports["grafanaAdminPassword"] == MOCK_PASSWORD
    assert "grafanaAdminPassword" in case.run.secret_exports


def test_existing_monitoring_adds_service_monitors_and_sidecar_dashboards(case: Deployed) -> None:
    if _cfg(case, "monitoringMode") != "existing":
        return
    release = _cfg(case, "prometheusReleaseLabel")
    [monitor] = case.run.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    assert monitor.inputs["metadata"]["labels"]["release"] == release
    assert monitor.inputs["spec"]["endpoints"][0]["path"] == "/export/prometheus"
    for framework, manifests in case.charts.items():
        chart_monitor = _by_name(manifests, "ServiceMonitor", framework)
        assert chart_monitor["metadata"]["labels"]["release"] == release
        policy = _by_name(manifests, "NetworkPolicy", framework)
        peers = policy["spec"]["ingress"][0]["from"]
        assert {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": _cfg(case, "monitoringNamespace")}
            }
        } in peers
    dashboards = [
        c.inputs for c in case.run.of_type(CONFIG_MAP) if c.name.startswith("fwcap-dashboard-")
    ]
    assert len(dashboards) == len(list((ROOT / "grafana/dashboards").glob("*.json")))
    assert all(d["metadata"]["labels"]["grafana_dashboard"] == "1" for d in dashboards)
    assert case.run.exports["prometheusUrl"] == _cfg(case, "existingPrometheusUrl")
    assert case.run.exports["grafanaAdminPassword"] is None


def test_locust_runs_the_repository_locustfile_with_the_configured_workers(case: Deployed) -> None:
    [cm] = [c.inputs for c in case.run.of_type(CONFIG_MAP) if c.name == "locust-locustfile"]
    assert cm["data"]["locustfile.py"] == (ROOT / "capacity/load/locustfile.py").read_text()
    master, worker = _workload(case, "locust-master"), _workload(case, "locust-worker")
    assert master["spec"]["replicas"] == 1
    assert worker["spec"]["replicas"] == _cfg(case, "locustWorkers")
    assert "--master" in _container(master)["args"]
    args = _container(worker)["args"]
    service = case.run.one(SERVICE, "locust-service").inputs
    host = args[args.index("--master-host") + 1]
    assert host == f"{service['metadata']['name']}.{_cfg(case, 'namespace')}.svc"
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert args[args.index("--master-port") + 1] == str(ports["master"])
    for image in (_container(master)["image"], _container(worker)["image"]):
        assert image.startswith("locustio/locust:") and not image.endswith(":latest")


def test_services_are_cluster_ip_only_and_urls_are_exported(case: Deployed) -> None:
    namespace = _cfg(case, "namespace")
    services = [m for m in case.all_manifests() if m["kind"] == "Service"]
    assert services
    for service in services:
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    exports = case.run.exports
    assert exports["namespace"] == namespace
    assert exports["serviceUrls"] == {
        fw: f"http://{fw}.{namespace}.svc:8000" for fw in _frameworks(case)
    }
    for fw, manifests in case.charts.items():
        assert _by_name(manifests, "Service", fw)["spec"]["ports"][0]["port"] == 8000
    assert exports["locustUrl"] == f"http://locust-master.{namespace}.svc:8089"
    if _cfg(case, "monitoringMode") == "bundled":
        assert exports["prometheusUrl"] == f"http://prometheus.{namespace}.svc:9090"
        assert exports["grafanaUrl"] == f"http://grafana.{namespace}.svc:3000"
    upstream = f"http://upstream-stub.{namespace}.svc:8099"
    assert exports["upstreamUrl"] == upstream
    for chart in case.run.of_type(CHART_TYPE):
        assert chart.inputs["values"]["upstreamUrl"] == upstream


def test_django_async_is_deployed_only_where_a_stack_enables_it() -> None:
    """A third Deployment and Service from the django image with SERVICE_VARIANT=async, its own
    database; the committed stacks deploy the two reference services, as before."""
    for stack in stack_files():
        assert sorted(deployed(stack.name).charts) == ["django", "fastapi"], stack.name
    three = deployed("three-contenders")
    assert sorted(three.charts) == ["django", "django-async", "fastapi"]
    manifests = three.charts["django-async"]
    [service] = [m for m in manifests if m["kind"] == "Service"]
    assert service["metadata"]["name"] == "django-async"
    [deployment] = [m for m in manifests if m["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "django-async"  # the cAdvisor `container` label the kit reads
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SERVICE_VARIANT"] == "async"
    [django] = [m for m in three.charts["django"] if m["kind"] == "Deployment"]
    django_image = django["spec"]["template"]["spec"]["containers"][0]["image"]
    assert container["image"] == django_image  # one image, two services
    assert "fwcap-django" in django_image
    secrets = {m["metadata"]["name"] for m in three.run.manifests() if m["kind"] == "Secret"}
    assert "fwcap-db-django-async" in secrets
