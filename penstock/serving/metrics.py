"""Prometheus metrics of the model server (requests, errors, latency, batch sizes), served at
``/monitoring/prometheus/metrics`` as TF Serving's monitoring config does.

Each server has its own CollectorRegistry (several servers can live in one process, e.g. in
tests). Model labels only ever hold served model names, never a name a client made up.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
UNKNOWN = "unknown"


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "penstock_serving_requests", "Requests answered, by model, version, API and protocol.",
            ["model", "version", "api", "protocol"], registry=self.registry)
        self.errors = Counter(
            "penstock_serving_request_errors", "Requests answered with an error, by status code.",
            ["model", "version", "api", "protocol", "code"], registry=self.registry)
        self.latency = Histogram(
            "penstock_serving_request_latency_seconds", "Time from request received to response ready.",
            ["model", "version", "api", "protocol"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram(
            "penstock_serving_batch_size", "Rows per model call made by the request batcher.",
            ["model", "version", "signature"], buckets=BATCH_BUCKETS, registry=self.registry)
        self._children: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}

    def observe(self, model: str, version: int | None, api: str, protocol: str,
                seconds: float, code: str = "OK") -> None:
        key = (model, "" if version is None else str(version), api, protocol)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(*key), self.latency.labels(*key))
        children[0].inc()
        children[1].observe(seconds)
        if code != "OK":
            self.errors.labels(*key, code).inc()

    def observe_batch(self, model: str, version: int, signature: str, size: int) -> None:
        self.batch_size.labels(model, str(version), signature).observe(size)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
