"""The model server's metrics under TF Serving's names, labels, buckets and exposition format, so
dashboards and alerts written for ``tensorflow_model_server`` read penstock's unchanged.

Served (as TF Serving does) only when the monitoring config enables Prometheus, at its ``path``
(default ``/monitoring/prometheus/metrics``):

- ``:tensorflow:serving:request_count{model_name,status}`` every request, by canonical status;
- ``:tensorflow:serving:request_latency{model_name,API,entrypoint}`` successful requests, in
  microseconds (API ``predict``/``classify``/``regress`` or empty for REST, ``Predict``/... for
  gRPC; entrypoint ``REST`` or ``GRPC``);
- ``:tensorflow:serving:runtime_latency{model_name,API,runtime}`` the model run itself (``TF1``);
- ``:tensorflow:serving:request_example_counts{model}`` / ``request_example_count_total{model}``
  examples per MultiInference request;
- ``:tensorflow:serving:model_warmup_latency{model_path,status}`` and ``model_warmup_records_read``;
- ``:tensorflow:serving:batching_session:queuing_latency{thread_pool_name}`` and
  ``wrapped_run_count`` when batching.

penstock adds one, ``:penstock:serving:batch_size{model_name,version,signature}`` (rows per model
call made by the batcher). Histograms follow TensorFlow's monitoring library: explicit upper bounds
plus DBL_MAX (printed ``+Inf``), a value equal to a bound counted in the next bucket. A client's
model name that is not served is recorded as "" (TF Serving records any name a client sends,
which lets clients grow the metric without bound).
"""

from __future__ import annotations

import bisect
import sys
import threading
from collections.abc import Sequence

DEFAULT_PATH = "/monitoring/prometheus/metrics"


def exponential(scale: float, growth: float, count: int) -> list[float]:
    """TensorFlow's Buckets::Exponential bounds."""
    bounds = []
    bound = scale
    for _ in range(count):
        bounds.append(bound)
        bound *= growth
    return bounds


def _number(value: float) -> str:
    """absl::StrCat of a double: %g with 6 significant digits."""
    return f"{value:g}"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class _Metric:
    def __init__(self, name: str, labels: Sequence[str]) -> None:
        self.name = ":" + name.strip("/").replace("/", ":")
        self.labels = tuple(labels)
        self._lock = threading.Lock()

    def _label_text(self, values: tuple[str, ...]) -> str:
        return ",".join(f'{k}="{_label(v)}"' for k, v in zip(self.labels, values))


class Counter(_Metric):
    def __init__(self, name: str, labels: Sequence[str]) -> None:
        super().__init__(name, labels)
        self.cells: dict[tuple[str, ...], int] = {}

    def inc(self, *values: str, by: int = 1) -> None:
        with self._lock:
            self.cells[values] = self.cells.get(values, 0) + by

    def lines(self) -> list[str]:
        out = [f"# TYPE {self.name} counter"]
        for values, count in sorted(self.cells.items()):
            out.append(f"{self.name}{{{self._label_text(values)}}} {count}")
        return out


class Histogram(_Metric):
    def __init__(self, name: str, labels: Sequence[str], bounds: Sequence[float]) -> None:
        super().__init__(name, labels)
        self.bounds = [*bounds, sys.float_info.max]
        self.cells: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *values: str) -> None:
        index = min(bisect.bisect_right(self.bounds, value), len(self.bounds) - 1)
        with self._lock:
            cell = self.cells.get(values)
            if cell is None:
                cell = self.cells[values] = ([0] * len(self.bounds), [0.0])
            cell[0][index] += 1
            cell[1][0] += value

    def lines(self) -> list[str]:
        out = [f"# TYPE {self.name} histogram"]
        for values, (counts, total) in sorted(self.cells.items()):
            labels = self._label_text(values)
            prefix = f"{self.name}_bucket{{{labels}{',' if labels else ''}"
            cumulative = 0
            for i, count in enumerate(counts):
                cumulative += count
                bound = _number(self.bounds[i]) if i < len(counts) - 1 else "+Inf"
                out.append(f'{prefix}le="{bound}"}} {cumulative}')
            out.append(f"{self.name}_sum{{{labels}}} {_number(total[0])}")
            out.append(f"{self.name}_count{{{labels}}} {cumulative}")
        return out


class ServingMetrics:
    """One per server (several servers can live in one process, e.g. in tests)."""

    def __init__(self) -> None:
        latency = exponential(10, 1.8, 33)
        self.request_count = Counter("/tensorflow/serving/request_count", ["model_name", "status"])
        self.request_latency = Histogram("/tensorflow/serving/request_latency",
                                         ["model_name", "API", "entrypoint"], latency)
        self.runtime_latency = Histogram("/tensorflow/serving/runtime_latency", ["model_name", "API", "runtime"],
                                         latency)
        self.example_counts = Histogram("/tensorflow/serving/request_example_counts", ["model"],
                                        exponential(1, 2, 15))
        self.example_count_total = Counter("/tensorflow/serving/request_example_count_total", ["model"])
        self.warmup_latency = Histogram("/tensorflow/serving/model_warmup_latency", ["model_path", "status"],
                                        exponential(10, 1.8, 33))
        self.warmup_records = Counter("/tensorflow/serving/model_warmup_records_read", ["model_path", "status"])
        self.queuing_latency = Histogram("/tensorflow/serving/batching_session/queuing_latency",
                                         ["thread_pool_name"], exponential(100, 1.2, 52))
        self.wrapped_run_count = Counter("/tensorflow/serving/batching_session/wrapped_run_count", [])
        self.batch_size = Histogram("/penstock/serving/batch_size", ["model_name", "version", "signature"],
                                    [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
        self._all: list[Counter | Histogram] = [
            self.batch_size, self.queuing_latency, self.wrapped_run_count, self.warmup_latency,
            self.warmup_records, self.example_count_total, self.example_counts, self.request_count,
            self.request_latency, self.runtime_latency,
        ]

    def observe_request(self, model: str, api: str, entrypoint: str, seconds: float, code: str = "OK") -> None:
        """TF Serving's RecordModelRequestCount (always) and RecordRequestLatency (success only)."""
        self.request_count.inc(model, code)
        if code == "OK":
            self.request_latency.observe(seconds * 1e6, model, api, entrypoint)

    def observe_runtime(self, model: str, api: str, seconds: float) -> None:
        self.runtime_latency.observe(seconds * 1e6, model, api, "TF1")

    def observe_examples(self, model: str, count: int) -> None:
        self.example_counts.observe(count, model)
        self.example_count_total.inc(model, by=count)

    def observe_warmup(self, model_path: str, status: str, seconds: float, records: int) -> None:
        self.warmup_latency.observe(seconds * 1e6, model_path, status)
        self.warmup_records.inc(model_path, status, by=records)

    def observe_batch(self, model: str, version: int, signature: str, rows: int, queued_seconds: Sequence[float]) -> None:
        self.batch_size.observe(rows, model, str(version), signature)
        self.wrapped_run_count.inc()
        for seconds in queued_seconds:
            self.queuing_latency.observe(seconds * 1e6, "model_server_batch_threads")

    def render(self) -> bytes:
        """The page, metrics sorted by name as TF Serving's exporter does."""
        lines: list[str] = []
        for metric in sorted(self._all, key=lambda m: m.name):
            if metric.cells:
                lines.extend(metric.lines())
        return ("\n".join(lines) + "\n").encode()
