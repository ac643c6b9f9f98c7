"""The Evaluator's EvalConfig: parsed and checked when the component is declared.

Users pass TFMA's EvalConfig as a dict in its JSON form (``{"model_specs": [{"label_key": "y"}],
...}``; wrapper values are plain numbers: ``"lower_bound": 0.6``) or as a text-format proto
string. Both are parsed into the real ``tensorflow_model_analysis.EvalConfig`` message at
declaration, so an unknown field, a value of the wrong type or a threshold of the wrong kind
fails the pipeline definition with the field named, before anything runs.

Importing TFMA itself would import TensorFlow (seconds). Only its generated ``config_pb2``
module is loaded here (protobuf only, ~0.1 s); it registers the same descriptors TFMA's own
import does later, so both share one message class.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

_TFMA_CONFIG_MODULE = "tensorflow_model_analysis.proto.config_pb2"
_config_pb2: Any = None

WRONG_KIND_HINT = (
    "a value_threshold takes lower_bound and/or upper_bound; a change_threshold takes direction "
    "(HIGHER_IS_BETTER or LOWER_IS_BETTER) and absolute and/or relative; in the JSON form the bounds "
    'are plain numbers, e.g. {"value_threshold": {"lower_bound": 0.6}}'
)


class EvalConfigError(ValueError):
    """The eval_config is not a valid TFMA EvalConfig; the message names the field."""


def config_pb2() -> Any:
    """TFMA's generated config_pb2 module, without importing TFMA (and TensorFlow)."""
    global _config_pb2
    if _config_pb2 is None:
        if _TFMA_CONFIG_MODULE in sys.modules:
            _config_pb2 = sys.modules[_TFMA_CONFIG_MODULE]
        else:
            spec = importlib.util.find_spec("tensorflow_model_analysis")
            if spec is None or spec.origin is None:
                raise EvalConfigError("tensorflow-model-analysis is not installed")
            path = os.path.join(os.path.dirname(spec.origin), "proto", "config_pb2.py")
            module_spec = importlib.util.spec_from_file_location("_penstock_tfma_config_pb2", path)
            if module_spec is None or module_spec.loader is None:
                raise EvalConfigError(f"cannot load TFMA's EvalConfig definition from {path}")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            _config_pb2 = module
    return _config_pb2


def parse_eval_config(value: dict[str, Any] | str) -> Any:
    """An EvalConfig message from a dict (JSON form), a JSON string or a text-format proto string."""
    from google.protobuf import json_format, text_format

    message = config_pb2().EvalConfig()
    try:
        if isinstance(value, dict):
            json_format.ParseDict(value, message)
        elif value.lstrip().startswith("{"):
            json_format.Parse(value, message)
        else:
            text_format.Parse(value, message)
    except (json_format.ParseError, text_format.ParseError, json.JSONDecodeError) as e:
        detail = _innermost(str(e))
        hint = f" ({WRONG_KIND_HINT})" if "threshold" in str(e).lower() else ""
        raise EvalConfigError(f"eval_config is not a valid TFMA EvalConfig: {detail}{hint}") from None
    check_eval_config(message)
    return message


def _innermost(message: str) -> str:
    """json_format nests 'Failed to parse X field: ...'; keep the path and the root cause."""
    parts = message.split("Failed to parse ")
    path = [p.split(" field:")[0] for p in parts[1:] if " field:" in p]
    root = parts[-1].split(" field: ", 1)[-1].rstrip(".") if len(parts) > 1 else message
    return f"{'.'.join(path)}: {root}" if path else message


# -- semantic checks --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdRef:
    """One threshold: which metric, where it was configured, and the GenericMetricThreshold."""

    metric: str
    where: str
    threshold: Any


def iter_thresholds(config: Any) -> list[ThresholdRef]:
    refs = []
    for i, spec in enumerate(config.metrics_specs):
        for metric in spec.metrics:
            where = f"metrics_specs[{i}].metrics[{metric.class_name}]"
            if metric.HasField("threshold"):
                refs.append(ThresholdRef(metric.class_name, f"{where}.threshold", metric.threshold))
            for j, per_slice in enumerate(metric.per_slice_thresholds):
                refs.append(ThresholdRef(metric.class_name, f"{where}.per_slice_thresholds[{j}]", per_slice.threshold))
            for j, cross in enumerate(metric.cross_slice_thresholds):
                refs.append(ThresholdRef(metric.class_name, f"{where}.cross_slice_thresholds[{j}]", cross.threshold))
        for name, threshold in spec.thresholds.items():
            refs.append(ThresholdRef(name, f"metrics_specs[{i}].thresholds[{name}]", threshold))
        for name, per_slice_list in spec.per_slice_thresholds.items():
            for j, per_slice in enumerate(per_slice_list.thresholds):
                refs.append(ThresholdRef(name, f"metrics_specs[{i}].per_slice_thresholds[{name}][{j}]", per_slice.threshold))
    return refs


def has_value_thresholds(config: Any) -> bool:
    return any(r.threshold.HasField("value_threshold") for r in iter_thresholds(config))


def has_change_thresholds(config: Any) -> bool:
    return any(r.threshold.HasField("change_threshold") for r in iter_thresholds(config))


def check_eval_config(config: Any) -> None:
    """Checks json_format cannot make: one candidate model spec, thresholds of a usable kind."""
    pb = config_pb2()
    candidates = [s for s in config.model_specs if not s.is_baseline]
    if len(candidates) != 1:
        raise EvalConfigError(
            f"eval_config needs exactly one (non-baseline) model_specs entry, got {len(candidates)}: "
            'e.g. "model_specs": [{"label_key": "species"}]; the baseline is added by the Evaluator'
        )
    if not any(s.metrics for s in config.metrics_specs):
        raise EvalConfigError('eval_config has no metrics: add "metrics_specs": [{"metrics": [{"class_name": ...}]}]')
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            if not metric.class_name:
                raise EvalConfigError("eval_config: a metrics entry has no class_name")
    for ref in iter_thresholds(config):
        kinds = [k for k in ("value_threshold", "change_threshold") if ref.threshold.HasField(k)]
        if not kinds:
            raise EvalConfigError(f"eval_config {ref.where}: empty threshold ({WRONG_KIND_HINT})")
        if ref.metric.endswith("Plot"):
            raise EvalConfigError(
                f"eval_config {ref.where}: {ref.metric} is a plot; thresholds apply only to scalar metrics"
            )
        if "value_threshold" in kinds:
            value = ref.threshold.value_threshold
            if not (value.HasField("lower_bound") or value.HasField("upper_bound")):
                raise EvalConfigError(f"eval_config {ref.where}.value_threshold has no bound ({WRONG_KIND_HINT})")
            if value.HasField("lower_bound") and value.HasField("upper_bound") and value.lower_bound.value > value.upper_bound.value:
                raise EvalConfigError(
                    f"eval_config {ref.where}.value_threshold: lower_bound {value.lower_bound.value} "
                    f"is above upper_bound {value.upper_bound.value}"
                )
        if "change_threshold" in kinds:
            change = ref.threshold.change_threshold
            if change.direction == pb.MetricDirection.UNKNOWN:
                raise EvalConfigError(
                    f"eval_config {ref.where}.change_threshold needs a direction: HIGHER_IS_BETTER or LOWER_IS_BETTER"
                )
            if not (change.HasField("absolute") or change.HasField("relative")):
                raise EvalConfigError(
                    f"eval_config {ref.where}.change_threshold needs absolute and/or relative ({WRONG_KIND_HINT})"
                )


def referenced_features(config: Any) -> dict[str, str]:
    """Feature name -> where the eval_config uses it (labels, weights, slices)."""
    features: dict[str, str] = {}
    for spec in config.model_specs:
        if spec.label_key:
            features.setdefault(spec.label_key, "model_specs.label_key")
        for key in spec.label_keys.values():
            features.setdefault(key, "model_specs.label_keys")
        if spec.example_weight_key:
            features.setdefault(spec.example_weight_key, "model_specs.example_weight_key")
    for i, slicing in enumerate(config.slicing_specs):
        for key in list(slicing.feature_keys) + list(slicing.feature_values):
            features.setdefault(key, f"slicing_specs[{i}]")
    for i, cross in enumerate(config.cross_slicing_specs):
        for slicing in [cross.baseline_spec, *cross.slicing_specs]:
            for key in list(slicing.feature_keys) + list(slicing.feature_values):
                features.setdefault(key, f"cross_slicing_specs[{i}]")
    return features
