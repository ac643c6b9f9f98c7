"""Executor of ExampleValidator: TFDV validation per split, drift checks, summary and gate.

The gate raises only after every output file and property is in place, so the anomalies
artifact that explains the stop is kept (the runner publishes outputs on ValidationGateError).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import TYPE_CHECKING

from penstock.errors import PipelineDefinitionError, ValidationGateError
from penstock.runtime.context import ExecutorContext
from penstock.storage import anomalies as anomalies_io
from penstock.storage import examples as examples_io
from penstock.storage import schema as schema_io
from penstock.storage import statistics as statistics_io

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
_DRIFT_KEYS = {"linf", "jsd"}
_BOUND_KINDS = {"FLOAT_TYPE_SMALL_FLOAT", "FLOAT_TYPE_BIG_FLOAT", "INT_TYPE_SMALL_INT", "INT_TYPE_BIG_INT"}


@dataclasses.dataclass
class Anomaly:
    split: str
    feature: str
    kind: str
    description: str
    accepted: bool = False

    def line(self) -> str:
        note = "  (expected: accepted)" if self.accepted else ""
        return f"[{self.split}] {self.feature}: {self.kind}: {self.description}{note}"


def run(ctx: ExecutorContext) -> None:
    import tensorflow_data_validation as tfdv

    params = ctx.parameters
    statistics = ctx.input("statistics")
    baseline = ctx.optional_input("baseline_statistics")
    schema = schema_io.load(ctx.input("schema").uri)
    splits = examples_io.select_splits(ctx.component_id, statistics.split_names, params["exclude_splits"],
                                       "statistics artifact")
    drift = dict(params["drift_thresholds"])
    drift_schema = _with_drift_comparators(ctx, schema, drift) if drift else None
    baseline_split = params["drift_baseline_split"]
    if drift and baseline is None and baseline_split not in statistics.split_names:
        raise PipelineDefinitionError(
            f"{ctx.component_id}: drift_baseline_split {baseline_split!r} is not one of {statistics.split_names}"
        )

    output = ctx.output("anomalies")
    found: list[Anomaly] = []
    for split in splits:
        stats = statistics_io.load(statistics, split, ctx.component_id)
        previous = None
        if drift_schema is not None:
            if baseline is not None and split in baseline.split_names:
                previous = statistics_io.load(baseline, split, f"{ctx.component_id} baseline")
            elif baseline is None and split != baseline_split:
                previous = statistics_io.load(statistics, baseline_split, ctx.component_id)
        if previous is not None:
            anomalies = tfdv.validate_statistics(stats, drift_schema, previous_statistics=previous)
        else:
            anomalies = tfdv.validate_statistics(stats, schema)
        anomalies_io.save(output, split, anomalies)
        found += _describe(split, anomalies)

    expected = dict(params["expected_anomalies"])
    for anomaly in found:
        kinds = expected.get(anomaly.feature, [])
        anomaly.accepted = "*" in kinds or anomaly.kind in kinds
    gate_splits = set(params["gate_splits"])
    blocking = [a for a in found if not a.accepted and a.split in gate_splits]
    summary = _summary(ctx.component_id, splits, found, blocking)
    anomalies_io.save_summary(output, summary)

    output.split_names = splits
    span = statistics.get_property("span")
    if span is not None:
        output.set_property("span", span)
    output.custom_properties["summary"] = summary[:4000]
    output.custom_properties["anomaly_count"] = len(found)
    output.custom_properties["blocking_count"] = len(blocking)
    output.custom_properties["anomalies"] = json.dumps([dataclasses.asdict(a) for a in found])[:60000]

    if not found:
        ctx.log.info("no anomalies in splits %s", ", ".join(splits))
        return
    if blocking and params["gate"] == "stop":
        raise ValidationGateError(_gate_message(ctx.component_id, blocking))
    if params["gate"] == "record":  # TFX's behaviour: recorded, the run goes on; said once
        ctx.log.warning(
            "%s: %d anomal%s recorded in %s (ExampleAnomalies; summary.txt); the run goes on, as in TFX. "
            "To stop the run on anomalies, turn the gate on: ExampleValidator(..., gate='stop')",
            ctx.component_id, len(found), "y" if len(found) == 1 else "ies", output.uri,
        )
        return
    ctx.log.warning("%s", summary)


def _with_drift_comparators(ctx: ExecutorContext, schema: schema_pb2.Schema, drift: dict[str, dict[str, float]]) -> schema_pb2.Schema:
    import tensorflow_data_validation as tfdv

    drift_schema = copy.deepcopy(schema)
    names = {f.name for f in drift_schema.feature}
    for feature_name, thresholds in drift.items():
        if feature_name not in names:
            raise PipelineDefinitionError(
                f"{ctx.component_id}: drift_thresholds names feature {feature_name!r}, which the schema lacks"
            )
        unknown = set(thresholds) - _DRIFT_KEYS
        if unknown or not thresholds:
            raise PipelineDefinitionError(
                f"{ctx.component_id}: drift_thresholds[{feature_name!r}] = {thresholds}: use keys 'linf' and/or 'jsd'"
            )
        feature = tfdv.get_feature(drift_schema, feature_name)
        if "linf" in thresholds:
            feature.drift_comparator.infinity_norm.threshold = float(thresholds["linf"])
        if "jsd" in thresholds:
            feature.drift_comparator.jensen_shannon_divergence.threshold = float(thresholds["jsd"])
    return drift_schema


def _describe(split: str, anomalies: anomalies_pb2.Anomalies) -> list[Anomaly]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    out = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason:
            out.append(
                Anomaly(
                    split=split,
                    feature=feature,
                    kind=anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
                    description=f"{reason.short_description}: {reason.description}",
                )
            )
    if anomalies.HasField("dataset_anomaly_info"):
        for reason in anomalies.dataset_anomaly_info.reason:
            out.append(
                Anomaly(
                    split=split,
                    feature="(dataset)",
                    kind=anomalies_pb2.AnomalyInfo.Type.Name(reason.type),
                    description=f"{reason.short_description}: {reason.description}",
                )
            )
    return out


def _summary(component_id: str, splits: list[str], found: list[Anomaly], blocking: list[Anomaly]) -> str:
    if not found:
        return f"{component_id}: no anomalies in splits {', '.join(splits)}"
    head = f"{component_id}: {len(found)} anomal{'y' if len(found) == 1 else 'ies'} ({len(blocking)} blocking) in splits {', '.join(splits)}"
    return "\n".join([head, *("  " + a.line() for a in found)])


def _gate_message(component_id: str, blocking: list[Anomaly]) -> str:
    expected: dict[str, list[str]] = {}
    for a in blocking:
        kinds = expected.setdefault(a.feature, [])
        if a.kind not in kinds:
            kinds.append(a.kind)
    lines = [f"{component_id}: data validation found {len(blocking)} anomal{'y' if len(blocking) == 1 else 'ies'}; the pipeline stops here:"]
    lines += ["  " + a.line() for a in blocking]
    lines += [
        "To accept them: fix the data; or update the schema (edit schema.pbtxt and load it with ImportSchemaGen);",
        f"or mark them as expected: ExampleValidator(..., expected_anomalies={json.dumps(expected)});",
        "or only warn: ExampleValidator(..., gate='warn').",
    ]
    if any(a.kind in _BOUND_KINDS for a in blocking):
        lines.append("(Value bounds are inferred by SchemaGen(infer_value_bounds=True); set it to False to drop them.)")
    return "\n".join(lines)
