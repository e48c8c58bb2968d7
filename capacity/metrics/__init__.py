"""Metrics: every PromQL query the kit uses, the Prometheus config, and its reader."""
