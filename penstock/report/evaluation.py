"""Reads a TFMA evaluation (a ModelEvaluation artifact) into per-slice metric rows with thresholds.

TFMA writes metrics, the validation result and the eval config it ran with into the artifact's
directory; thresholds are taken from that stored config, so the report shows exactly what the
Evaluator checked. TFMA imports TensorFlow, so this module is imported only when a run has a
ModelEvaluation.
"""

from __future__ import annotations

import math
import os
from typing import Any

from penstock.dsl.artifact import Artifact


def import_tfma() -> Any:
    from penstock import _env

    _env.use_keras_2()
    import tensorflow_model_analysis as tfma

    return tfma


def _bound(threshold: Any, field: str) -> float | None:
    if not threshold.HasField(field):
        return None
    value = float(getattr(threshold, field).value)
    return value if math.isfinite(value) else None


def _metric_value(value: Any) -> float | None:
    if value.HasField("double_value"):
        return float(value.double_value.value)
    if value.HasField("bounded_value"):
        return float(value.bounded_value.value.value)
    return None  # matrices, arrays and plots are not drawn as one number


def _metric_label(key: Any) -> str:
    label = key.name
    if key.sub_key:
        label += f" ({key.sub_key})"
    if key.output_name:
        label = f"{key.output_name}/{label}"
    if key.model_name:
        label += f" [{key.model_name}]"
    if key.is_diff:
        label += " change vs baseline"
    return label


def _describe_failure(failure: Any, label: str, value: float | None) -> str:
    """TFMA often leaves ``message`` empty: say which bound the value crossed."""
    threshold = failure.metric_threshold
    bounds = threshold.change_threshold if threshold.HasField("change_threshold") else threshold.value_threshold
    parts = []
    lower, upper = _bound(bounds, "lower_bound"), _bound(bounds, "upper_bound")
    if lower is not None:
        parts.append(f">= {lower:.4g}")
    if upper is not None:
        parts.append(f"<= {upper:.4g}")
    shown = "?" if value is None else f"{value:.4g}"
    kind = "change" if threshold.HasField("change_threshold") else "value"
    return f"{label} = {shown}, expected {kind} {' and '.join(parts) or 'within its threshold'}"


def read_evaluation(artifact: Artifact) -> dict[str, Any]:
    """``{"metrics": [{slice, metric, value, lower, upper, passed}], "validation": {...}, "errors": [...]}``."""
    uri = artifact.uri
    errors: list[str] = []
    if not os.path.isdir(uri):
        return {"metrics": [], "validation": None, "errors": [f"{uri}: the evaluation directory does not exist"]}
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.metrics import metric_specs, metric_types
    from tensorflow_model_analysis.slicer import slicer_lib as slicer
    from tensorflow_model_analysis.writers import eval_config_writer

    thresholds: dict[Any, list[tuple[Any, Any]]] = {}
    try:
        eval_config, *_ = eval_config_writer.load_eval_run(uri)
        if eval_config is not None:
            thresholds = dict(metric_specs.metric_thresholds_from_metrics_specs(eval_config.metrics_specs, eval_config))
    except Exception as e:  # a damaged config must not hide the metrics
        errors.append(f"{uri}: cannot read the eval config TFMA stored ({type(e).__name__}: {e})")

    rows: list[dict[str, Any]] = []
    try:
        for metrics in tfma.load_metrics(uri):
            slice_key = slicer.deserialize_slice_key(metrics.slice_key)
            slice_name = slicer.stringify_slice_key(slice_key)
            for item in metrics.metric_keys_and_values:
                value = _metric_value(item.value)
                if value is None:
                    continue
                key = metric_types.MetricKey.from_proto(item.key)
                lower = upper = None
                for spec, threshold in thresholds.get(key, []):
                    if spec is not None and not slicer.SingleSliceSpec(spec=spec).is_slice_applicable(slice_key):
                        continue
                    if threshold.DESCRIPTOR.name == "GenericValueThreshold" or key.is_diff:
                        lower = _bound(threshold, "lower_bound") if lower is None else lower
                        upper = _bound(threshold, "upper_bound") if upper is None else upper
                passed = (lower is None or value >= lower) and (upper is None or value <= upper)
                rows.append({
                    "slice": slice_name, "metric": _metric_label(key), "value": value,
                    "lower": lower, "upper": upper,
                    "has_threshold": lower is not None or upper is not None, "passed": passed,
                })
    except Exception as e:
        errors.append(f"{uri}: cannot read TFMA metrics ({type(e).__name__}: {e})")

    validation: dict[str, Any] | None = None
    try:
        result = tfma.load_validation_result(uri)
        failures = []
        for per_slice in result.metric_validations_per_slice:
            slice_name = slicer.stringify_slice_key(slicer.deserialize_slice_key(per_slice.slice_key))
            for failure in per_slice.failures:
                value = _metric_value(failure.metric_value)
                label = _metric_label(metric_types.MetricKey.from_proto(failure.metric_key))
                failures.append({"slice": slice_name, "metric": label, "value": value,
                                 "message": failure.message or _describe_failure(failure, label, value)})
        validation = {
            "ok": bool(result.validation_ok),
            "failures": failures,
            "missing_slices": [str(s) for s in result.missing_slices],
        }
    except Exception as e:
        errors.append(f"{uri}: no TFMA validation result ({type(e).__name__}: {e})")
    rows.sort(key=lambda r: (r["metric"], r["slice"] != "Overall", r["slice"]))
    return {"metrics": rows, "validation": validation, "errors": errors}
