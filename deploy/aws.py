"""What an EKS cluster needs from AWS that Pulumi, not a person, should create: ECR repositories
(immutable tags, scanned on push) with push credentials from the ECR API, and - for a cluster
without them - the EBS CSI driver add-on with its IAM role through EKS Pod Identity, plus a gp3
StorageClass. Region and credentials come from the standard `aws:` provider config."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build
import pulumi_kubernetes as k8s

from deploy.specs.names import meta

# The driver's controller runs as this service account (the add-on's own manifests).
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
# EKS Pod Identity: the agent add-on exchanges a pod's service account for the role's credentials.
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def pod_identity_trust_policy() -> str:
    """Who may assume the driver's role: EKS Pod Identity only (it tags the session)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )


class EcrRepositories(pulumi.ComponentResource):
    """One ECR repository per image of the kit; `repositories[name]` is its URL (host/path) and
    `registry` the push credentials docker-build uses (a fresh 12-hour token on every run)."""

    repositories: dict[str, pulumi.Output[str]]
    registry: docker_build.RegistryArgs

    def __init__(
        self,
        resource_name: str,
        repository_names: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:EcrRepositories", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repositories = {}
        registry_id: pulumi.Output[str] | None = None
        for image, repository_name in repository_names.items():
            repository = aws.ecr.Repository(
                f"{resource_name}-{image}",
                name=repository_name,
                # A tag, once pushed, always means the same image; tags come from the content.
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=True
                ),
                force_delete=True,  # `pulumi destroy` removes the kit's images with it
                opts=child,
            )
            self.repositories[image] = repository.repository_url
            registry_id = repository.registry_id
        token = aws.ecr.get_authorization_token_output(registry_id=registry_id, opts=None)
        first = next(iter(self.repositories.values()))
        self.registry = docker_build.RegistryArgs(
            address=first.apply(lambda url: url.split("/", 1)[0]),
            username=token.user_name,
            password=pulumi.Output.secret(token.password),
        )
        self.register_outputs({"repositories": self.repositories})


class EbsStorage(pulumi.ComponentResource):
    """The EBS CSI driver add-on (with the Pod Identity agent it needs), its IAM role, and the
    stack's StorageClass as gp3: what a fresh EKS cluster lacks for PostgreSQL's volume."""

    def __init__(
        self,
        resource_name: str,
        cluster: str,
        storage_class: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`cluster`: the EKS cluster's name; `storage_class`: the gp3 class to create."""
        super().__init__("fwcap:deploy:EbsStorage", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{resource_name}-ebs-csi-role",
            assume_role_policy=pod_identity_trust_policy(),
            description=f"EBS CSI driver of EKS cluster {cluster} (fwcap, EKS Pod Identity)",
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{resource_name}-ebs-csi-policy", role=role.name, policy_arn=EBS_CSI_POLICY_ARN,
            opts=child,
        )  # fmt: skip
        agent = aws.eks.Addon(
            f"{resource_name}-pod-identity-agent",
            cluster_name=cluster,
            addon_name="eks-pod-identity-agent",
            opts=child,
        )
        driver = aws.eks.Addon(
            f"{resource_name}-ebs-csi-driver",
            cluster_name=cluster,
            addon_name="aws-ebs-csi-driver",
            pod_identity_associations=[
                aws.eks.AddonPodIdentityAssociationArgs(
                    role_arn=role.arn, service_account=EBS_CSI_SERVICE_ACCOUNT
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[agent]),
        )
        k8s.storage.v1.StorageClass(
            f"{resource_name}-storage-class",
            metadata=meta(storage_class, None, "storage"),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4"},
            # The volume is made in the zone of the node the pod lands on.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[driver]),
        )
        self.register_outputs({})
