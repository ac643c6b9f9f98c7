"""Executors of SchemaGen and ImportSchemaGen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from penstock.errors import PipelineDefinitionError
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
    schema_io.save(ctx.output("schema").uri, schema)
    ctx.output("schema").custom_properties["num_features"] = len(schema.feature)


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
