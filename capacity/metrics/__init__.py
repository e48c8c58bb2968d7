"""Metrics: every PromQL expression the kit uses, the Prometheus config, and the client that reads them."""
