"""The cluster flags of `capacity report`, as one value (no Kubernetes import: the CLI loads
the kubernetes client only when a cluster flag is given)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClusterOptions:
    """The cluster flags of `capacity report`; all None means the local (embedded) run."""

    stack: str | None = None
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str | None = None
    prometheus_url: str | None = None
    locust_url: str | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in vars(self).values())

    @property
    def url_mode(self) -> bool:
        """Prometheus and Locust by URL, no Kubernetes API at all."""
        return self.stack is None and self.kubeconfig is None and self.context is None
