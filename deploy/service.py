"""A framework service: its image (built and pushed, or prebuilt) and one release of the
charts/fwcap-service Helm chart, installed through helm.v4.Chart from the local path."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build
import pulumi_kubernetes as k8s

from deploy import images
from deploy.images import ImageRef
from deploy.setting_types import IMAGE_NAMES, image_of
from deploy.specs.names import SERVICE_PORT, in_cluster_url
from deploy.specs.service_chart import ServiceChartInputs, service_chart_values

CHART_PATH = "./charts/fwcap-service"
PROJECT_DIR = Path(__file__).resolve().parents[1]
IMAGES = (*IMAGE_NAMES, "upstream")
# Not part of what an image is built from (bytecode, caches).
_IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


@dataclass(frozen=True)
class ImageBuild:
    """Where an image of the kit is built from (paths relative to the project directory).

    `staged`: the image's context is not a source directory but one assembled from these files
    (name in the context -> source path), so it holds exactly what the Dockerfile copies."""

    name: str  # django | fastapi | upstream
    context: str
    dockerfile: str
    repository: str  # the name under the stack's registry
    staged: Mapping[str, str] = field(default_factory=dict)


STAGING_DIR = ".build/images"  # git-ignored; rewritten by every `pulumi up`


def image_build(name: str) -> ImageBuild:
    if name == "upstream":
        # The stub is the one file services/upstream_stub.py plus aiohttp: a small image of its
        # own, built from a context of just its two inputs - not all of services/, where any
        # service change would give it a new tag and roll it for nothing.
        return ImageBuild(
            name,
            f"{STAGING_DIR}/{name}",
            "deploy/images/upstream-stub/Dockerfile",
            "fwcap-upstream-stub",
            staged={
                "upstream_stub.py": "services/upstream_stub.py",
                "requirements.txt": "deploy/images/upstream-stub/requirements.txt",
            },
        )
    # A service's own directory plus services/asgi_server (uvicorn as both services run it:
    # FastAPI, and Django's async variant), staged side by side as the Dockerfile copies them.
    return ImageBuild(
        name,
        f"{STAGING_DIR}/{name}",
        f"services/{name}/Dockerfile",
        f"fwcap-{name}",
        staged={
            **_tree(f"services/{name}", ""),
            **_tree(f"services/{ASGI_SERVER}", ASGI_SERVER),
        },
    )


ASGI_SERVER = "asgi_server"


def _tree(source_dir: str, into: str, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """{path in the context: source path} for every file under `source_dir` (no caches)."""
    root = project_dir / source_dir
    return {
        str(Path(into) / p.relative_to(root)): str(p.relative_to(project_dir))
        for p in sorted(root.rglob("*"))
        if p.is_file() and not _IGNORED_PARTS & set(p.relative_to(root).parts)
        and p.suffix != ".pyc"
    }  # fmt: skip


def stage_context(build: ImageBuild, project_dir: Path = PROJECT_DIR) -> None:
    """Assemble a staged context (only its files, whatever was there before).

    Assembled aside and renamed into place: two programs staging at once (parallel tests) never
    see a half-copied context; when the other one's rename wins, its copy of the same sources
    stays."""
    if not build.staged:
        return
    context = project_dir / build.context
    context.parent.mkdir(parents=True, exist_ok=True)
    assembling = Path(tempfile.mkdtemp(prefix=f".{context.name}-", dir=context.parent))
    for name, source in build.staged.items():
        (assembling / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(project_dir / source, assembling / name)
    shutil.rmtree(context, ignore_errors=True)
    try:
        assembling.rename(context)
    except OSError:  # another program's context took the place first
        shutil.rmtree(assembling, ignore_errors=True)


def _context_files(build: ImageBuild, project_dir: Path) -> list[tuple[str, Path]]:
    """(name the hash records, file) for every file the build can read."""
    if build.staged:
        return [(source, project_dir / source) for source in sorted(build.staged.values())]
    context = project_dir / build.context
    files = sorted(
        p
        for p in context.rglob("*")
        if p.is_file() and not _IGNORED_PARTS & set(p.relative_to(context).parts)
        and p.suffix != ".pyc"
    )  # fmt: skip
    return [(str(p.relative_to(project_dir)), p) for p in files]


def content_tag(build: ImageBuild, project_dir: Path = PROJECT_DIR, base_image: str = "") -> str:
    """`src-<12 hex>`: a hash of every file the build can read (context and Dockerfile) and of the
    pinned base image, so the same inputs give the same tag and any change gives a new one (an
    immutable repository would refuse a new build under an old tag)."""
    digest = hashlib.sha256()
    if base_image:
        digest.update(b"BASE_IMAGE=" + base_image.encode() + b"\0")
    dockerfile = (build.dockerfile, project_dir / build.dockerfile)
    for name, path in [*_context_files(build, project_dir), dockerfile]:
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return "src-" + digest.hexdigest()[:12]


@dataclass(frozen=True)
class ImageTarget:
    """Where built images go: image name -> repository (host/path), and push credentials."""

    repositories: Mapping[str, pulumi.Input[str]]
    registries: Sequence[docker_build.RegistryArgs] = field(default_factory=tuple)


def registry_target(registry: str) -> ImageTarget:
    """The stack's own registry (kind's localhost:5001, or one Docker is logged in to)."""
    return ImageTarget({name: f"{registry}/{image_build(name).repository}" for name in IMAGES})


@dataclass(frozen=True)
class KitImages:
    """How the kit's own images come to be: built here (on the pinned base, for `platform`), or
    prebuilt ones named in the stack."""

    build: bool
    prebuilt: Mapping[str, ImageRef]  # image name -> the stack's image (build false)
    tag: str  # "": from the sources' content
    base_image: str  # the Dockerfiles' `FROM python:<tag>`, pinned by the stack's digest
    platform: str  # linux/amd64 or linux/arm64


def kit_image(
    name: str,
    inputs: KitImages,
    target: ImageTarget,
    parent: pulumi.Resource,
    resource_name: str = "",
) -> pulumi.Output[ImageRef]:
    """The image for `name`: built and pushed to the target, or the configured one.
    `resource_name` (default `<name>-image`) keeps two services of one image apart."""
    if not inputs.build:
        return pulumi.Output.from_input(inputs.prebuilt[name])
    build = image_build(name)
    base_image = inputs.base_image
    tag = inputs.tag or content_tag(build, base_image=base_image)
    repository = pulumi.Output.from_input(target.repositories[name])
    stage_context(build)
    image = docker_build.Image(
        resource_name or f"{name}-image",
        tags=[repository.apply(lambda repo: f"{repo}:{tag}")],
        push=True,
        registries=list(target.registries) or None,
        # The FROM line names the base by tag; this named context swaps in the stack's pin of
        # that tag (BuildKit resolves a FROM through a context of the same name), so the
        # Dockerfiles stay buildable alone and the build still runs on the pinned digest.
        context=docker_build.BuildContextArgs(
            location=build.context,
            named={
                images.PYTHON.tag_ref: docker_build.ContextArgs(
                    location=f"docker-image://{base_image}"
                )
            },
        ),
        dockerfile=docker_build.DockerfileArgs(location=build.dockerfile),
        platforms=[docker_build.Platform(inputs.platform)],
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # The digest pins the pods to exactly what was pushed, whatever the tag later points at.
    return pulumi.Output.all(repository, image.digest).apply(
        lambda args: ImageRef(str(args[0]), tag, str(args[1]))
    )


class FrameworkService(pulumi.ComponentResource):
    """One framework's image and chart release; `url` is its in-cluster base URL."""

    url: str
    values: pulumi.Output[dict[str, object]]

    def __init__(
        self,
        framework: str,
        chart: ServiceChartInputs,
        kit_images: KitImages,
        namespace: pulumi.Input[str],
        database_secret: pulumi.Input[str],
        target: ImageTarget,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:FrameworkService", framework, None, opts)
        # django-async builds the django image under a resource of its own: same sources, same
        # content tag, so both releases run the same pushed image.
        image = kit_image(image_of(framework), kit_images, target, self, f"{framework}-image")
        self.values = pulumi.Output.all(image, database_secret).apply(
            lambda args: service_chart_values(chart, framework, args[0], args[1])
        )
        k8s.helm.v4.Chart(
            framework,
            chart=CHART_PATH,
            name=framework,  # the release name: Service, Deployment etc. are named after it
            namespace=namespace,
            values=self.values,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = in_cluster_url(framework, chart.namespace, SERVICE_PORT)
        self.register_outputs({"url": self.url})
