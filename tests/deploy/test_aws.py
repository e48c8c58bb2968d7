"""EKS done by Pulumi (deploy/aws.py), under the mocks for the eks stack: ECR repositories with
immutable tags and push credentials from the ECR API handed to docker-build; the EBS CSI driver
add-on with its IAM role through EKS Pod Identity; the stack's gp3 StorageClass. Image tags come
from the build context's content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from capacity.errors import ConfigError
from deploy.aws import EBS_CSI_POLICY_ARN, EBS_CSI_SERVICE_ACCOUNT
from deploy.service import ImageBuild, content_tag
from deploy.stack_config import load_settings
from tests.deploy.conftest import deployed
from tests.deploy.harness import ROOT

EKS = "Pulumi.eks.yaml"


def test_ecr_repositories_are_immutable_scanned_and_one_per_image() -> None:
    run = deployed(EKS).run
    repos = {r.inputs["name"]: r.inputs for r in run.of_type("aws:ecr/repository:Repository")}
    assert sorted(repos) == ["fwcap-django", "fwcap-fastapi", "fwcap-upstream-stub"]
    for repo in repos.values():
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"] == {"scanOnPush": True}


def test_every_build_pushes_with_the_ecr_credentials() -> None:
    """(test_program checks their values: the registry host, user AWS and the API's token.)"""
    images = deployed(EKS).run.of_type("docker-build:index:Image")
    assert len(images) == 3 and all(len(i.inputs["registries"]) == 1 for i in images)


def test_ebs_csi_driver_gets_its_role_through_pod_identity() -> None:
    run = deployed(EKS).run
    [role] = run.of_type("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert set(statement["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    [attachment] = run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == EBS_CSI_POLICY_ARN
    addons = {a.inputs["addonName"]: a.inputs for a in run.of_type("aws:eks/addon:Addon")}
    assert sorted(addons) == ["aws-ebs-csi-driver", "eks-pod-identity-agent"]
    assert {a["clusterName"] for a in addons.values()} == {"fwcap"}
    [association] = addons["aws-ebs-csi-driver"]["podIdentityAssociations"]
    assert association["serviceAccount"] == EBS_CSI_SERVICE_ACCOUNT
    assert association["roleArn"].endswith(role.name)


def test_the_stack_storage_class_is_gp3_and_postgres_uses_it() -> None:
    case = deployed(EKS)
    [storage_class] = case.run.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    inputs = storage_class.inputs
    assert inputs["metadata"]["name"] == case.settings.storage_class == "gp3"
    assert inputs["provisioner"] == "ebs.csi.aws.com"
    assert inputs["parameters"]["type"] == "gp3"
    assert inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    sts = case.run.one("kubernetes:apps/v1:StatefulSet", "postgres").inputs
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "gp3"


def test_the_local_stack_creates_nothing_in_aws() -> None:
    run = deployed("Pulumi.local.yaml").run
    assert not [r for r in run.registered if r.type.startswith("aws:")]


def test_ebs_driver_without_a_cluster_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="fwcap:eksClusterName"):
        load_settings(
            {"registry": "localhost:5001", "ebsCsiDriver": True, "storageClass": "gp3"}, ROOT
        )


def test_content_tag_follows_the_sources(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "services" / "fastapi", project / "services" / "fastapi")
    build = ImageBuild(
        "fastapi", "services/fastapi", "services/fastapi/Dockerfile", "fwcap-fastapi"
    )
    first = content_tag(build, project)
    assert first == content_tag(build, project)  # stable
    assert first == content_tag(build, ROOT)  # the same files, elsewhere: the same tag
    (project / "services" / "fastapi" / "__pycache__").mkdir(exist_ok=True)
    (project / "services" / "fastapi" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert content_tag(build, project) == first  # bytecode is not a source
    dockerfile = project / build.dockerfile
    dockerfile.write_text(dockerfile.read_text() + "\n# changed\n")
    assert content_tag(build, project) != first
