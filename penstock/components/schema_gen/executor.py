"""Executors of SchemaGen and ImportSchemaGen."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from penstock.errors import PipelineDefinitionError, ValidationGateError
from penstock.runtime.context import ExecutorContext
from penstock.storage import filesystem
from penstock.storage import schema as schema_io
from penstock.storage import statistics as statistics_io

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2


def run_schema_gen(ctx: ExecutorContext) -> None:
    import tensorflow_data_validation as tfdv

    statistics = ctx.input("statistics")
    # Empty: every split but exclude_splits, as TFX's SchemaGen.
    splits = list(ctx.parameters["infer_from_splits"]) or [
        s for s in statistics.split_names if s not in ctx.parameters["exclude_splits"]]
    missing = [s for s in splits if s not in statistics.split_names]
    if missing:
        raise PipelineDefinitionError(
            f"{ctx.component_id}: infer_from_splits names {missing}, but the statistics have splits {statistics.split_names}"
        )
    schema = None
    all_stats = []
    for split in splits:
        stats = statistics_io.load(statistics, split, ctx.component_id)
        if schema is None:
            schema = tfdv.infer_schema(
                stats,
                infer_feature_shape=bool(ctx.parameters["infer_feature_shape"]),
                max_string_domain_size=int(ctx.parameters["max_string_domain_size"]),
            )
        else:
            schema = _update_keeping_features(tfdv, schema, stats)
        all_stats.append(stats)
    assert schema is not None
    if ctx.parameters["infer_value_bounds"]:
        add_value_bounds(schema, all_stats)
    output = ctx.output("schema")
    blessed = blessed_schema(ctx) if ctx.parameters["compare_with_blessed"] else None
    if blessed is None:
        schema_io.save(output.uri, schema)
        output.custom_properties["num_features"] = len(schema.feature)
        return
    baseline, source = blessed
    accepted = set(ctx.parameters["accept_changes"])
    changes = schema_changes(baseline, dict(zip(splits, all_stats)))
    kept = [c for c in changes if not ("*" in accepted or c.feature in accepted)]
    result = evolve(baseline, schema, all_stats, {c.feature for c in changes} - {c.feature for c in kept})
    schema_io.save(output.uri, result)
    output.custom_properties["num_features"] = len(result.feature)
    output.custom_properties["baseline_schema"] = source
    output.custom_properties["changes"] = json.dumps([dataclasses.asdict(c) for c in changes])[:60000]
    if kept:
        listed = "; ".join(f"{c.feature}: {c.description}" for c in kept[:12])
        more = f" (and {len(kept) - 12} more)" if len(kept) > 12 else ""
        features = sorted({c.feature for c in kept})
        raise ValidationGateError(
            f"the data no longer fits the schema of the last blessed model ({source}): {listed}{more}. If the data "
            f"is wrong, fix it; if it changed on purpose, accept the change in the pipeline: "
            f"SchemaGen(..., accept_changes={features!r})"
        )
    if changes:
        ctx.log.info("accepted schema changes of %s", ", ".join(sorted({c.feature for c in changes})))


@dataclasses.dataclass
class SchemaChange:
    split: str
    feature: str
    description: str


def blessed_schema(ctx: ExecutorContext) -> tuple[schema_pb2.Schema, str] | None:
    """The schema this component produced in the run of the pipeline's latest blessed model,
    with a description of where it comes from; None before any model was blessed."""
    from penstock.dsl.standard_artifacts import ModelBlessing
    from penstock.metadata.store import MetadataStore
    from penstock.runtime.node_execution import latest_outputs

    if ctx.metadata_config is None:
        return None
    store = MetadataStore(ctx.metadata_config)
    blessings = [b for b in store.live_artifacts_of_type(ctx.pipeline_name, ModelBlessing) if b.get_property("blessed") == 1]
    for blessing in sorted(blessings, key=lambda b: b.id or 0, reverse=True):
        producers = sorted(execution for kind, execution in store.artifact_events(blessing.id or 0) if kind == "OUTPUT")
        if not producers:  # recorded outside a run (penstock bless): no schema to go with it
            continue
        run_id = store.get_execution(producers[0]).run_id
        outputs = latest_outputs(store, ctx.pipeline_name, ctx.component_id, run_id=run_id)
        if outputs and outputs.get("schema"):
            artifact = outputs["schema"][0]
            return schema_io.load(artifact.uri), f"Schema #{artifact.id} of run {run_id}, ModelBlessing #{blessing.id}"
    return None


def schema_changes(baseline: schema_pb2.Schema,
                   stats_by_split: dict[str, statistics_pb2.DatasetFeatureStatisticsList]) -> list[SchemaChange]:
    """What the new statistics show that the baseline schema does not allow, per feature."""
    import tensorflow_data_validation as tfdv

    changes: list[SchemaChange] = []
    for split, stats in stats_by_split.items():
        anomalies = tfdv.validate_statistics(stats, baseline)
        for feature, info in sorted(anomalies.anomaly_info.items()):
            reasons = "; ".join(f"{r.short_description} ({r.description})" for r in info.reason)
            changes.append(SchemaChange(split, feature, reasons))
    return changes


def evolve(baseline: schema_pb2.Schema, inferred: schema_pb2.Schema,
           stats_list: list[statistics_pb2.DatasetFeatureStatisticsList], accepted: set[str]) -> schema_pb2.Schema:
    """The baseline schema with the accepted features' part updated to the new data (their
    domains and bounds relaxed by TFDV's ``update_schema``; a new feature as inferred)."""
    import tensorflow_data_validation as tfdv

    if not accepted:
        return baseline
    relaxed = baseline
    for stats in stats_list:
        relaxed = tfdv.update_schema(relaxed, stats)
    result = copy.deepcopy(baseline)
    for name in sorted(accepted):
        source = relaxed if any(f.name == name for f in relaxed.feature) else inferred
        _replace_feature(result, source, name)
    return result


def _replace_feature(target: schema_pb2.Schema, source: schema_pb2.Schema, name: str) -> None:
    """Put ``source``'s feature ``name`` (and the string domain it names) into ``target``."""
    features = [f for f in source.feature if f.name == name]
    kept = [f for f in target.feature if f.name != name]
    del target.feature[:]
    target.feature.extend(kept + features)
    for feature in features:
        if feature.domain:
            domains = [d for d in source.string_domain if d.name == feature.domain]
            others = [d for d in target.string_domain if d.name != feature.domain]
            del target.string_domain[:]
            target.string_domain.extend(others + domains)


def _update_keeping_features(tfdv: Any, schema: schema_pb2.Schema,
                             stats: statistics_pb2.DatasetFeatureStatisticsList) -> schema_pb2.Schema:
    """``tfdv.update_schema`` with another split's statistics, except that a feature the schema
    has is not deprecated because that split holds no value of it (TFDV would: a feature with
    one value in train and none in eval vanished from tf.Transform's inputs, failing a
    ``preprocessing_fn`` that reads it). Its absence there stays the ExampleValidator's to report."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    live = {f.name for f in schema.feature if f.lifecycle_stage != schema_pb2.DEPRECATED}
    updated = tfdv.update_schema(schema, stats)
    for feature in updated.feature:
        if feature.name in live and feature.lifecycle_stage == schema_pb2.DEPRECATED:
            feature.ClearField("lifecycle_stage")
    return updated


def add_value_bounds(schema: schema_pb2.Schema, stats_list: list[statistics_pb2.DatasetFeatureStatisticsList]) -> None:
    """Non-negative numeric features get min 0; floats within [0, 1] also get max 1."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    for stats in stats_list:
        for feature_stats in stats.datasets[0].features:
            if feature_stats.HasField("num_stats") and feature_stats.num_stats.common_stats.num_non_missing > 0:
                name = feature_stats.path.step[-1] if feature_stats.path.step else feature_stats.name
                lows[name] = min(lows.get(name, float("inf")), feature_stats.num_stats.min)
                highs[name] = max(highs.get(name, float("-inf")), feature_stats.num_stats.max)
    for feature in schema.feature:
        low, high = lows.get(feature.name), highs.get(feature.name)
        if low is None or high is None or low < 0:
            continue
        if feature.type == schema_pb2.FLOAT and feature.WhichOneof("domain_info") in (None, "float_domain"):
            if not feature.float_domain.HasField("min"):
                feature.float_domain.min = 0.0
            if high <= 1.0 and not feature.float_domain.HasField("max"):
                feature.float_domain.max = 1.0
        elif feature.type == schema_pb2.INT and feature.WhichOneof("domain_info") in (None, "int_domain"):
            if not feature.int_domain.HasField("min"):
                feature.int_domain.min = 0


def run_import_schema_gen(ctx: ExecutorContext) -> None:
    path = ctx.parameters["schema_file"]
    schema = schema_io.load(path)  # validates: a broken file fails here, naming the file
    schema_io.save(ctx.output("schema").uri, schema)
    ctx.output("schema").custom_properties["source"] = filesystem.absolute(path)
