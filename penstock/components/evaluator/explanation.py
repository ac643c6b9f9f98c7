"""Turns TFMA's ValidationResult into sentences: which metric, on which slice, failed which
threshold, and by how much. The Evaluator stores them in the ModelBlessing and logs them; the
Pusher repeats them when it refuses a model."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

OVERALL = "Overall"

# (slice text, metric name) -> the baseline's value, for relative change thresholds
BaselineValues = Mapping[tuple[str, str], float]


def slice_text(slice_key: Any) -> str:
    """``group=a``, ``group=a, sex=F`` or ``Overall`` for a SliceKey proto."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, float):
            value = f"{value:g}"
        parts.append(f"{single.column}={value}")
    return ", ".join(parts) or OVERALL


def _cross_text(cross_key: Any) -> str:
    return f"{slice_text(cross_key.baseline_slice_key)} vs {slice_text(cross_key.comparison_slice_key)}"


def metric_text(metric_key: Any) -> str:
    name = metric_key.name
    if metric_key.HasField("sub_key"):
        sub = metric_key.sub_key
        for field in ("class_id", "k", "top_k"):
            if sub.HasField(field):
                name += f"[{field}={getattr(sub, field).value}]"
    if metric_key.output_name:
        name = f"{metric_key.output_name}/{name}"
    return name


def _num(x: float) -> str:
    return f"{x:.6g}"


def describe_failure(failure: Any, where: str, baseline: BaselineValues | None = None) -> str:
    metric = metric_text(failure.metric_key)
    prefix = f"{metric} on slice {where}"
    if failure.message and not failure.HasField("metric_value"):
        return f"{prefix}: {failure.message.strip()} (a threshold names a metric that was not computed)"
    value = failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    if threshold.HasField("value_threshold"):
        bounds = threshold.value_threshold
        if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
            lb = bounds.lower_bound.value
            return f"{prefix}: {_num(value)} is below the lower bound {_num(lb)} (short by {_num(lb - value)})"
        if bounds.HasField("upper_bound") and value > bounds.upper_bound.value:
            ub = bounds.upper_bound.value
            return f"{prefix}: {_num(value)} is above the upper bound {_num(ub)} (over by {_num(value - ub)})"
        return f"{prefix}: {_num(value)} fails value threshold {_short(bounds)}"
    if threshold.HasField("change_threshold"):
        return _describe_change(prefix, value, threshold.change_threshold, where, failure, baseline)
    return f"{prefix}: {_num(value)} fails {_short(threshold)} {failure.message.strip()}".rstrip()


def _describe_change(prefix: str, diff: float, change: Any, where: str, failure: Any, baseline: BaselineValues | None) -> str:
    from penstock.components.evaluator.config import config_pb2

    higher = change.direction == config_pb2().MetricDirection.HIGHER_IS_BETTER
    direction = "higher is better" if higher else "lower is better"
    reasons = []
    if change.HasField("absolute"):
        limit = change.absolute.value
        if (higher and diff < limit) or (not higher and diff > limit):
            bound = "at least" if higher else "at most"
            reasons.append(
                f"changed by {diff:+.6g} vs the baseline, the threshold allows {bound} {limit:+.6g} "
                f"({direction}; {'short' if higher else 'over'} by {_num(abs(diff - limit))})"
            )
    if change.HasField("relative"):
        limit = change.relative.value
        base = (baseline or {}).get((where, failure.metric_key.name))
        if base is None or math.isclose(base, 0.0):
            reasons.append(f"relative change vs the baseline fails the relative threshold {limit:+.6g} ({direction})")
        else:
            ratio = diff / base
            if (higher and ratio < limit) or (not higher and ratio > limit):
                bound = "at least" if higher else "at most"
                reasons.append(
                    f"changed by {ratio:+.2%} relative to the baseline's {_num(base)}, the threshold allows "
                    f"{bound} {limit:+.2%} ({direction})"
                )
    return f"{prefix}: " + ("; ".join(reasons) or f"change {diff:+.6g} vs the baseline fails {_short(change)}")


def _short(message: Any) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(message, as_one_line=True)


def explain_failures(validation_result: Any, baseline: BaselineValues | None = None) -> list[str]:
    """One sentence per failed threshold (and per threshold slice that matched no example)."""
    lines = []
    for per_slice in validation_result.metric_validations_per_slice:
        if per_slice.HasField("cross_slice_key"):
            where = _cross_text(per_slice.cross_slice_key)
        else:
            where = slice_text(per_slice.slice_key)
        for failure in per_slice.failures:
            lines.append(describe_failure(failure, where, baseline))
    for missing in validation_result.missing_slices:
        lines.append(f"thresholds for slice {_short(missing) or OVERALL} could not be checked: no example falls in it")
    return lines
