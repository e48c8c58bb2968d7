"""The third-party images the kit runs or builds on: each by tag (for people) and, per stack, by
the digest that tag pointed at when it was pinned (for the nodes).

A tag can be re-pushed; a digest cannot. The digests are stack config (`fwcap:<name>ImageDigest`)
rather than constants here because none could be resolved where this file was written (no
registry access) and a made-up one would be worse than none: `load_settings` refuses a stack that
lacks one it needs, and its message carries the commands that resolve it. Bump a tag here
together with every stack's digest for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ThirdPartyImage:
    key: str  # settings field prefix: `<key>_image_digest`, stack key fwcap:<camelKey>ImageDigest
    tag_ref: str  # repository:tag, never `latest`
    why: str  # what uses it, for the error message


PYTHON = ThirdPartyImage(
    "python", "python:3.12.11-slim-bookworm", "the base of the kit's own images"
)
POSTGRES = ThirdPartyImage("postgres", "postgres:18.1-bookworm", "PostgreSQL")
PROMETHEUS = ThirdPartyImage("prometheus", "prom/prometheus:v3.5.0", "bundled Prometheus")
GRAFANA = ThirdPartyImage("grafana", "grafana/grafana:12.1.1", "bundled Grafana")
# The Locust version the local run uses (uv.lock).
LOCUST = ThirdPartyImage("locust", "locustio/locust:2.47.0", "Locust master and workers")
# v2.16.0: the newest release in kube-state-metrics' CHANGELOG.md as stored for this kit's review.
KUBE_STATE_METRICS = ThirdPartyImage(
    "kube_state_metrics",
    "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0",
    "bundled kube-state-metrics",
)
ALL = (PYTHON, POSTGRES, PROMETHEUS, GRAFANA, LOCUST, KUBE_STATE_METRICS)


def pinned(image: ThirdPartyImage, digest: str) -> str:
    """`repository:tag@sha256:...`: the tag for readers, the digest for the kubelet."""
    return f"{image.tag_ref}@{digest}"


def resolve_commands(image: ThirdPartyImage) -> str:
    """How to look the digest up (of the multi-platform index, so every node architecture
    resolves it): either tool prints `sha256:...`."""
    return (
        f"`crane digest {image.tag_ref}` or `docker buildx imagetools inspect {image.tag_ref} "
        "--format '{{json .Manifest.Digest}}'`"
    )


_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_REF = re.compile(
    r"^(?P<repository>[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?"
    + rf"(/{_PATH_COMPONENT})*)"
    + r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
    + r"(@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
IMAGE_REF_FORMS = (
    "repository:tag@sha256:<64 hex>, e.g. ghcr.io/acme/fwcap-django:1.2.0@sha256:... (a fixed "
    "tag, never 'latest', and the digest it names: `crane digest <repository:tag>`)"
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
