"""Reads a TFMA evaluation (a ModelEvaluation artifact) into per-slice metric rows with thresholds.

TFMA writes metrics, the validation result and the eval config it ran with into the artifact's
directory. Thresholds are taken from that stored config, so the report shows exactly what the
Evaluator checked, and pass/fail is the Evaluator's own verdict, the validation result: nothing
is recomputed here. A value threshold applies to a model's metric, a change threshold to its
difference from the baseline (``is_diff``), each drawn as the bound it sets.

No TensorFlow: the files are TFRecords of TFMA's protos and a JSON config. The proto classes
come from TFMA's generated ``*_pb2`` modules, loaded into a private descriptor pool without
importing the ``tensorflow_model_analysis`` package (whose ``__init__`` imports TensorFlow,
~15 s); a report then renders in well under a second.
"""

from __future__ import annotations

import ast
import functools
import glob
import importlib.util
import json
import math
import os
import re
from collections import Counter
from types import SimpleNamespace
from typing import Any

from penstock.dsl.artifact import Artifact

OVERALL = "Overall"
# TFMA's generated modules, in dependency order.
_PROTO_FILES = ("config_pb2", "metrics_for_slice_pb2", "validation_result_pb2")


@functools.lru_cache(maxsize=1)
def tfma_protos() -> SimpleNamespace:
    """EvalConfig, MetricsForSlice and ValidationResult classes, without importing TFMA."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    spec = importlib.util.find_spec("tensorflow_model_analysis")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("tensorflow-model-analysis is not installed")
    folder = os.path.join(next(iter(spec.submodule_search_locations)), "proto")
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    for name in _PROTO_FILES:
        with open(os.path.join(folder, f"{name}.py"), encoding="utf-8") as f:
            pool.AddSerializedFile(_serialized_descriptor(f.read()))
    package = "tensorflow_model_analysis."
    return SimpleNamespace(**{
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(package + name))
        for name in ("EvalConfig", "MetricsForSlice", "ValidationResult")
    })


def _serialized_descriptor(source: str) -> bytes:
    """The bytes a generated ``*_pb2`` module passes to ``AddSerializedFile``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "AddSerializedFile":
            value = ast.literal_eval(node.args[0])
            if isinstance(value, bytes):
                return value
    raise ImportError("no serialized file descriptor in a TFMA proto module")


def _records(pattern: str) -> list[bytes]:
    """The records of TFMA's TFRecord outputs matching ``<dir>/<name>*``: ``metrics``,
    ``metrics-00000-of-00001.tfrecord``, ``validations.tfrecord``; not other files sharing the
    prefix (the Evaluator's ``metrics_summary.json``)."""
    from penstock.codecs.tfrecords import iter_record_spans

    prefix = os.path.basename(pattern).rstrip("*")
    shape = re.compile(re.escape(prefix) + r"(-\d+-of-\d+)?(\.tfrecord)?(\.gz)?")
    records: list[bytes] = []
    for path in sorted(p for p in glob.glob(pattern) if shape.fullmatch(os.path.basename(p))):
        for spans in iter_record_spans(path):
            records.extend(bytes(r) for r in spans.records())
    return records


# -- names as TFMA shows them ---------------------------------------------------------------------
def slice_name(slice_key: Any) -> str:
    """TFMA's ``stringify_slice_key``: "Overall", "island:Dream", "a_X_b:1_X_x"."""
    columns, values = [], []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        columns.append(single.column)
        values.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    if not columns:
        return OVERALL
    return f"{'_X_'.join(columns)}:{'_X_'.join(values)}"


def metric_label(key: Any, baseline_models: frozenset[str] = frozenset()) -> str:
    label = key.name
    if key.HasField("sub_key"):
        sub = key.sub_key
        parts = [f"{field}:{getattr(sub, field).value}" for field in ("class_id", "k", "top_k") if sub.HasField(field)]
        label += f" ({', '.join(parts)})" if parts else ""
    if key.output_name:
        label = f"{key.output_name}/{label}"
    if key.model_name in baseline_models:
        return f"{label} [baseline]"
    return f"{label} change vs baseline" if key.is_diff else label


def default_metric_name(class_name: str) -> str:
    """The name TFMA and Keras give a metric class by default: AUC -> auc,
    BinaryAccuracy -> binary_accuracy, AUCPrecisionRecall -> auc_precision_recall."""
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", class_name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", words).lower()


def _metric_value(value: Any) -> float | None:
    if value.HasField("double_value"):
        return float(value.double_value.value)
    if value.HasField("bounded_value"):
        return float(value.bounded_value.value.value)
    return None  # matrices, arrays and plots are not drawn as one number


# -- thresholds as the Evaluator ran them --------------------------------------------------------------
class _Thresholds:
    """The thresholds of a stored EvalConfig, looked up by metric key and slice."""

    def __init__(self, config: Any) -> None:
        self.baselines = frozenset(m.name for m in config.model_specs if m.is_baseline)
        self._entries: list[tuple[str, frozenset[str], list[Any] | None, Any]] = []
        for spec in config.metrics_specs:
            models = frozenset(spec.model_names)
            for metric in spec.metrics:
                name = _configured_name(metric)
                if metric.HasField("threshold"):
                    self._entries.append((name, models, None, metric.threshold))
                for per_slice in metric.per_slice_thresholds:
                    self._entries.append((name, models, list(per_slice.slicing_specs), per_slice.threshold))
            for name, threshold in spec.thresholds.items():
                self._entries.append((name, models, None, threshold))
            for name, per_slice_list in spec.per_slice_thresholds.items():
                for per_slice in per_slice_list.thresholds:
                    self._entries.append((name, models, list(per_slice.slicing_specs), per_slice.threshold))

    def bounds(self, key: Any, slice_key: Any) -> tuple[float | None, float | None, str]:
        """(lower, upper, note) for a metric on a slice; a baseline's own metrics have none."""
        lower = upper = None
        notes = []
        if key.model_name in self.baselines:
            return None, None, ""
        for name, models, slicing_specs, threshold in self._entries:
            if name != key.name or (models and key.model_name not in models):
                continue
            if slicing_specs is not None and not any(_matches(s, slice_key) for s in slicing_specs):
                continue
            if key.is_diff and threshold.HasField("change_threshold"):
                low, high, note = _change_bounds(threshold.change_threshold)
            elif not key.is_diff and threshold.HasField("value_threshold"):
                low, high, note = _bound(threshold.value_threshold, "lower_bound"), _bound(
                    threshold.value_threshold, "upper_bound"), ""
            else:
                continue
            lower = low if lower is None else lower
            upper = high if upper is None else upper
            notes += [note] if note else []
        return lower, upper, "; ".join(notes)


def _configured_name(metric: Any) -> str:
    try:
        configured = json.loads(metric.config or "{}").get("name")
    except (ValueError, AttributeError):
        configured = None
    return str(configured or default_metric_name(metric.class_name))


def _bound(threshold: Any, field: str) -> float | None:
    if not threshold.HasField(field):
        return None
    value = float(getattr(threshold, field).value)
    return value if math.isfinite(value) else None


def _change_bounds(change: Any) -> tuple[float | None, float | None, str]:
    """A change threshold as the bound it puts on the difference: higher-is-better metrics may
    not fall below ``absolute``, lower-is-better ones not rise above it. A relative threshold is
    a ratio to the baseline's value, said in the note."""
    higher = change.DESCRIPTOR.fields_by_name["direction"].enum_type.values_by_number[
        change.direction].name != "LOWER_IS_BETTER"
    absolute = _bound(change, "absolute")
    note = ""
    if change.HasField("relative"):
        note = f"relative change {'>=' if higher else '<='} {change.relative.value:.4g} of the baseline"
    return (absolute, None, note) if higher else (None, absolute, note)


def _matches(spec: Any, slice_key: Any) -> bool:
    """Whether a SlicingSpec selects this slice (feature_keys any value, feature_values exact)."""
    columns: dict[str, str] = {}
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        columns[single.column] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    wanted = set(spec.feature_keys) | set(spec.feature_values)
    return set(columns) == wanted and all(columns[k] == v for k, v in spec.feature_values.items())


# -- the evaluation ------------------------------------------------------------------------------------
def read_evaluation(artifact: Artifact) -> dict[str, Any]:
    """``{"metrics": [{slice, metric, value, lower, upper, has_threshold, passed, note}],
    "validation": {...}, "errors": [...], "warnings": [...]}``."""
    uri = artifact.uri
    if not os.path.isdir(uri):
        return {"metrics": [], "validation": None, "errors": [f"{uri}: the evaluation directory does not exist"],
                "warnings": []}
    errors: list[str] = []
    try:
        protos = tfma_protos()
    except (ImportError, OSError, TypeError) as e:
        return {"metrics": [], "validation": None, "warnings": [],
                "errors": [f"{uri}: cannot read TFMA's file formats ({type(e).__name__}: {e})"]}
    thresholds = _Thresholds(protos.EvalConfig())
    try:
        with open(os.path.join(uri, "eval_config.json"), encoding="utf-8") as f:
            stored = json.load(f)
        from google.protobuf import json_format

        thresholds = _Thresholds(json_format.ParseDict(stored.get("evalConfig", {}), protos.EvalConfig(),
                                                       ignore_unknown_fields=True))
    except Exception as e:  # a damaged config must not hide the metrics
        errors.append(f"{uri}: cannot read the eval config TFMA stored ({type(e).__name__}: {e})")

    validation, failed = _read_validation(protos, uri, thresholds.baselines, errors)
    rows: list[dict[str, Any]] = []
    try:
        for record in _records(os.path.join(uri, "metrics*")):
            metrics = protos.MetricsForSlice.FromString(record)
            name = slice_name(metrics.slice_key)
            for item in metrics.metric_keys_and_values:
                value = _metric_value(item.value)
                if value is None:
                    continue
                label = metric_label(item.key, thresholds.baselines)
                lower, upper, note = thresholds.bounds(item.key, metrics.slice_key)
                has_threshold = lower is not None or upper is not None or bool(note)
                rows.append({
                    "slice": name, "metric": label, "value": value, "lower": lower, "upper": upper, "note": note,
                    "has_threshold": has_threshold,
                    # The Evaluator's verdict: failed when its validation lists this metric on this slice.
                    "passed": (name, label) not in failed if has_threshold else True,
                })
    except Exception as e:
        errors.append(f"{uri}: cannot read TFMA metrics ({type(e).__name__}: {e})")
    warnings = _disambiguate(rows)
    rows.sort(key=lambda r: (r["metric"], r["slice"] != OVERALL, r["slice"]))
    return {"metrics": rows, "validation": validation, "errors": errors, "warnings": warnings}


def _read_validation(protos: Any, uri: str, baselines: frozenset[str],
                     errors: list[str]) -> tuple[dict[str, Any] | None, set[tuple[str, str]]]:
    records = _records(os.path.join(uri, "validations*"))
    if not records:
        errors.append(f"{uri}: no TFMA validation result")
        return None, set()
    result = protos.ValidationResult.FromString(records[0])
    failures: list[dict[str, Any]] = []
    failed: set[tuple[str, str]] = set()
    for per_slice in result.metric_validations_per_slice:
        name = slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            value = _metric_value(failure.metric_value)
            label = metric_label(failure.metric_key, baselines)
            failures.append({"slice": name, "metric": label, "value": value,
                             "message": failure.message or _describe_failure(failure, label, value)})
            failed.add((name, label))
    validation = {"ok": bool(result.validation_ok), "failures": failures,
                  "missing_slices": [slice_name(s) for s in result.missing_slices]}
    return validation, failed


def _describe_failure(failure: Any, label: str, value: float | None) -> str:
    """TFMA often leaves ``message`` empty: say which bound the value crossed."""
    threshold = failure.metric_threshold
    if threshold.HasField("change_threshold"):
        lower, upper, note = _change_bounds(threshold.change_threshold)
        kind = "change"
    else:
        lower, upper, note = _bound(threshold.value_threshold, "lower_bound"), _bound(
            threshold.value_threshold, "upper_bound"), ""
        kind = "value"
    parts = [f">= {lower:.4g}"] if lower is not None else []
    parts += [f"<= {upper:.4g}"] if upper is not None else []
    parts += [note] if note else []
    shown = "?" if value is None else f"{value:.4g}"
    return f"{label} = {shown}, expected {kind} {' and '.join(parts) or 'within its threshold'}"


def _disambiguate(rows: list[dict[str, Any]]) -> list[str]:
    """Two metrics with one name on one slice (a Keras metric compiled into the model named
    ``auc`` and TFMA's ``AUC``) would be drawn stacked as one bar and merged by compare: number
    the later ones, and say how to rename them."""
    seen: Counter[tuple[str, str]] = Counter()
    doubled: set[str] = set()
    for row in rows:
        key = (row["slice"], row["metric"])
        seen[key] += 1
        if seen[key] > 1:
            doubled.add(row["metric"])
            row["metric"] = f"{row['metric']} #{seen[key]}"
    return [
        f"two metrics are named {name!r} (a metric compiled into the Keras model and one in the eval config?); "
        f"the second is shown as '{name} #2'. Rename one, e.g. MetricConfig(class_name=..., "
        f"config='{{\"name\": \"{name}_tfma\"}}')"
        for name in sorted(doubled)
    ]
