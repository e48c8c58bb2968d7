"""Acceptance 4: the Prometheus config the cluster gets (the ConfigMap the mocked program
registered) passes `promtool check config`.

Debian's promtool is built without Kubernetes service discovery, so it rejects
`kubernetes_sd_configs` as an unknown field. The test therefore checks a copy in which every
`kubernetes_sd_configs` block is swapped for an equivalent-shaped `static_configs` block; every
other line (relabelling, TLS, authorization, metric_relabel_configs) is checked as the cluster
gets it. The service-account token and CA the config names exist in a pod; here they are stand-in
files in a temp dir, because promtool checks that credential files exist.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import Deployed

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (Debian/Ubuntu: apt-get install prometheus)",
)


def cluster_config(case: Deployed) -> str:
    [config_map] = [
        r.inputs
        for r in case.run.of_type("kubernetes:core/v1:ConfigMap")
        if r.name == "prometheus-config"
    ]
    return str(config_map["data"]["prometheus.yml"])


# Scrape settings newer than Debian's promtool (2.42): name -> the release that added it. The
# in-cluster image is Prometheus 3.x; the check runs on a copy without these.
NEWER_THAN_DEBIAN = {"track_timestamps_staleness": "2.48"}


def without_kubernetes_sd(text: str, service_account_dir: Path) -> tuple[str, int]:
    """The config with kubernetes_sd_configs -> static_configs (and without settings Debian's
    promtool predates); returns (yaml, blocks swapped)."""
    config: dict[str, Any] = yaml.safe_load(text)
    swapped = 0
    for job in config["scrape_configs"]:
        for key in NEWER_THAN_DEBIAN:
            job.pop(key, None)
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
            swapped += 1
    rewritten = yaml.safe_dump(config, sort_keys=False)
    return rewritten.replace(SERVICE_ACCOUNT_DIR, str(service_account_dir)), swapped


def promtool_check(config: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    return subprocess.run(
        ["promtool", "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cluster_prometheus_config_passes_promtool(stack: Deployed, tmp_path: Path) -> None:
    if stack.settings.monitoring_mode != "bundled":
        pytest.skip("this stack uses an existing Prometheus")
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("stand-in token\n")
    (account / "ca.crt").write_text("stand-in CA\n")
    text = cluster_config(stack)
    checked, swapped = without_kubernetes_sd(text, account)
    assert swapped == 4  # services, cadvisor, kube-state-metrics, loadgen: all discover in-cluster
    result = promtool_check(checked, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    # The swap touched discovery only: every job keeps its relabelling and scrape settings.
    original = yaml.safe_load(text)["scrape_configs"]
    kept = yaml.safe_load(checked)["scrape_configs"]
    assert [j["job_name"] for j in original] == [j["job_name"] for j in kept]
    for before, after in zip(original, kept, strict=True):
        assert before.get("relabel_configs") == after.get("relabel_configs")
        assert before.get("metric_relabel_configs") == after.get("metric_relabel_configs")


def test_cadvisor_series_go_stale_with_their_pod(stack: Deployed) -> None:
    """A replaced pod's cAdvisor series end with it, not 5 minutes later (cAdvisor timestamps its
    samples, so only track_timestamps_staleness marks them stale)."""
    if stack.settings.monitoring_mode != "bundled":
        pytest.skip("this stack uses an existing Prometheus")
    jobs = {j["job_name"]: j for j in yaml.safe_load(cluster_config(stack))["scrape_configs"]}
    assert jobs["cadvisor"]["track_timestamps_staleness"] is True


def test_promtool_rejects_a_broken_config(stack: Deployed, tmp_path: Path) -> None:
    """The check can fail: a relabel rule with an invalid regex is refused."""
    if stack.settings.monitoring_mode != "bundled":
        pytest.skip("this stack uses an existing Prometheus")
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("t\n")
    (account / "ca.crt").write_text("c\n")
    checked, _ = without_kubernetes_sd(cluster_config(stack), account)
    broken = checked.replace('regex: "true"', 'regex: "(unclosed"').replace(
        "regex: 'true'", "regex: '(unclosed'"
    )
    assert broken != checked
    assert promtool_check(broken, tmp_path).returncode != 0


def test_debian_promtool_really_lacks_kubernetes_discovery(stack: Deployed, tmp_path: Path) -> None:
    """Why the swap exists; if this starts passing, check the config unmodified instead."""
    if stack.settings.monitoring_mode != "bundled":
        pytest.skip("this stack uses an existing Prometheus")
    result = promtool_check(cluster_config(stack), tmp_path)
    output = result.stdout + result.stderr
    if result.returncode == 0 or "kubernetes_sd_configs" not in output:
        pytest.skip("this promtool supports Kubernetes discovery; the swap is unnecessary here")
    assert "kubernetes_sd_configs" in output
