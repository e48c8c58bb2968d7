"""Targets: where the measured pods run (local processes in cgroups, or a Kubernetes cluster)."""
