"""Executor of :class:`penstock.components.transform.component.Transform` (imported only when it runs).

Order of work: load the schema, find ``preprocessing_fn``, trace it once on placeholders built
from the schema (user mistakes surface in a second, naming the user's line, before any Beam
work), then one Beam pipeline analyzes the train split(s) with tf.Transform, transforms every
split, writes the transform graph with BOTH transformed and raw metadata, the analyzer cache,
a paired raw/transformed sample of the eval split for the Trainer's skew check and, if asked,
pre/post-transform statistics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from penstock import _env
from penstock.dsl.artifact import Artifact
from penstock.errors import ExecutionError, UserCodeError
from penstock.runtime.context import ExecutorContext
from penstock.runtime.user_code import describe_user_exception, is_user_file
from penstock.runtime.user_functions import resolve_user_function
from penstock.storage import examples as examples_io
from penstock.storage import filesystem, layout
from penstock.storage import schema as schema_io

RAW_RECORD_COLUMN = "__penstock_raw_record__"
PRE_TRANSFORM_STATS_DIR = "pre_transform_stats"
POST_TRANSFORM_STATS_DIR = "post_transform_stats"
_TELEMETRY = ["penstock", "Transform"]


class _StrictFeatures(dict[str, Any]):
    """The inputs handed to ``preprocessing_fn``: reading a feature the schema lacks says so."""

    def __missing__(self, key: Any) -> Any:
        raise KeyError(
            f"feature {key!r} is not in the schema; raw features are: {', '.join(sorted(self))}"
        )


def _checked(fn: Callable[..., Any], where: str) -> Callable[[Mapping[str, Any]], Any]:
    """Wrap ``preprocessing_fn`` so that bad inputs and outputs are reported in user terms."""

    def preprocessing_fn(inputs: Mapping[str, Any]) -> Any:
        import tensorflow as tf

        outputs = fn(_StrictFeatures(inputs))
        if not isinstance(outputs, Mapping) or not outputs:
            raise UserCodeError(
                f"{where} must return a non-empty dict of feature name -> tensor, "
                f"got {type(outputs).__name__} {outputs!r:.100}"
            )
        for key, value in outputs.items():
            if not isinstance(key, str):
                raise UserCodeError(f"{where} returned a non-string key {key!r}; keys must be feature names")
            if not isinstance(value, (tf.Tensor, tf.SparseTensor, tf.RaggedTensor)):
                raise UserCodeError(
                    f"{where} returned {type(value).__name__} {value!r:.60} for output {key!r}; "
                    "every output must be a tensor (tf.Tensor, tf.SparseTensor or tf.RaggedTensor)"
                )
        return dict(outputs)

    return preprocessing_fn


def _raised_in_user_code(error: BaseException) -> bool:
    import traceback

    # Cython frames of Beam carry relative paths: only real files count as user code.
    return any(os.path.isabs(f.filename) and os.path.isfile(f.filename) and is_user_file(f.filename)
               for f in traceback.extract_tb(error.__traceback__))


def _user_error(where: str, stage: str, error: BaseException) -> UserCodeError:
    if isinstance(error, UserCodeError):
        return error
    return UserCodeError(f"{where} failed {stage}: {describe_user_exception(error)}")


def check_preprocessing_fn(preprocessing_fn: Callable[..., Any], where: str, type_specs: dict[str, Any],
                           tmp_dir: str) -> None:
    """Trace ``preprocessing_fn`` as tf.Transform will, on placeholders from the schema."""
    from tensorflow_transform import impl_helper

    try:
        impl_helper.trace_preprocessing_function(
            preprocessing_fn, type_specs, use_tf_compat_v1=False, base_temp_dir=tmp_dir
        )
    except Exception as e:  # user code may raise anything
        raise _user_error(where, "when traced on placeholder inputs built from the schema", e) from e


def _dataset_key(examples: Artifact, split: str) -> Any:
    from tensorflow_transform.beam import analyzer_cache

    # The uri is part of the key: re-ingested data for the same span must not hit old cache.
    digest = hashlib.sha1(examples.split_uri(split).encode()).hexdigest()[:16]
    span = examples.get_property("span", 0)
    return analyzer_cache.DatasetKey(f"span-{span}-{split}-{digest}")


def _without_raw_column(record_batch: Any) -> tuple[Any, list[Any] | None]:
    """TFT appends pass-through columns to the transformed batch; split the raw records off."""
    index = record_batch.schema.get_field_index(RAW_RECORD_COLUMN)
    if index < 0:
        return record_batch, None
    raw = record_batch.column(index).to_pylist()
    import pyarrow as pa

    keep = [i for i in range(record_batch.num_columns) if i != index]
    return pa.RecordBatch.from_arrays(
        [record_batch.column(i) for i in keep], names=[record_batch.schema.names[i] for i in keep]
    ), raw


def _pairs_of(item: tuple[Any, dict[str, Any]]) -> Iterator[tuple[bytes, bytes]]:
    """(raw serialized tf.Example, transformed serialized tf.Example) per row of a batch."""
    from tfx_bsl.coders import example_coder

    record_batch, raw = _without_raw_column(item[0])
    if raw is None:
        return
    transformed = example_coder.RecordBatchToExamplesEncoder().encode(record_batch)
    for raw_values, transformed_row in zip(raw, transformed):
        yield raw_values[0], transformed_row


def _encode_transformed(item: tuple[Any, dict[str, Any]]) -> list[bytes]:
    from tfx_bsl.coders import example_coder

    record_batch, _ = _without_raw_column(item[0])
    return example_coder.RecordBatchToExamplesEncoder().encode(record_batch)


def _record_batch_only(item: tuple[Any, dict[str, Any]]) -> Any:
    return _without_raw_column(item[0])[0]


def _pair_to_example(pair: tuple[bytes, bytes]) -> bytes:
    import tensorflow as tf

    feature = {
        "raw": tf.train.Feature(bytes_list=tf.train.BytesList(value=[pair[0]])),
        "transformed": tf.train.Feature(bytes_list=tf.train.BytesList(value=[pair[1]])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _sample_key(pair: tuple[bytes, bytes]) -> bytes:
    # A stable pseudo-random choice of rows: the same data gives the same sample on every run.
    return hashlib.sha1(pair[0]).digest()


@dataclasses.dataclass
class _Plan:
    """What one Transform execution reads and writes, checked before any Beam work."""

    where: str  # the user function, for messages
    preprocessing_fn: Callable[..., Any]
    schema: Any
    examples: Artifact  # the newest: transformed
    analysis: list[tuple[Artifact, str, Any]]  # (examples, split, dataset key) analyzed
    cached_keys: set[Any]
    transform_splits: list[str]
    sample_split: str | None
    sample_rows: int
    compute_statistics: bool
    tft_tmp: str

    def tfxio(self, artifact: Artifact, split: str, raw_column: bool = False) -> Any:
        from tfx_bsl.public import tfxio

        return tfxio.TFExampleRecord(
            file_pattern=examples_io.split_pattern(artifact, split),
            schema=self.schema,
            raw_record_column_name=RAW_RECORD_COLUMN if raw_column else None,
            telemetry_descriptors=_TELEMETRY,
        )


def run(ctx: ExecutorContext) -> None:
    from penstock.beam.pipeline import make_pipeline

    _env.skip_autograph_for_libraries()
    plan = _plan(ctx)
    ctx.log.info("Transform: analyzing %s (%d cached), transforming %s",
                 [k.key for _, _, k in plan.analysis], len(plan.cached_keys), plan.transform_splits)
    try:
        with make_pipeline(ctx.beam_pipeline_args) as pipeline:
            import tensorflow_transform.beam as tft_beam

            with tft_beam.Context(temp_dir=plan.tft_tmp, passthrough_keys={RAW_RECORD_COLUMN}):
                transform_fn, _ = _analyze(ctx, pipeline, plan)
                statistics_left = plan.compute_statistics
                for split in plan.transform_splits:
                    _transform_split(ctx, pipeline, plan, split, transform_fn, post_statistics=statistics_left)
                    statistics_left = statistics_left and split not in {s for _, s, _ in plan.analysis}
    except (UserCodeError, ExecutionError):
        raise
    except Exception as e:
        described = describe_user_exception(e)
        if _raised_in_user_code(e):
            raise UserCodeError(f"{plan.where} failed while tf.Transform ran: {described}") from e
        raise ExecutionError(ctx.component_id, f"tf.Transform pipeline failed: {described}") from e
    _record(ctx, plan)


def _plan(ctx: ExecutorContext) -> _Plan:
    """Every input checked and the user function traced on placeholders, before any Beam work."""
    from tfx_bsl.public import tfxio

    from penstock.beam.pipeline import workers_share_local_disk

    params = ctx.parameters
    all_examples = ctx.inputs.get("examples") or []
    if not all_examples:
        raise ExecutionError(ctx.component_id, "input 'examples' resolved to no artifact")
    examples = all_examples[-1]
    schema = schema_io.load(ctx.input("schema").uri)
    user_fn, where = resolve_user_function(ctx.component_id, params, "preprocessing_fn", "preprocessing_fn")
    where = f"{ctx.component_id}: {where}"
    analyze_splits = list(params["analyze_splits"])
    transform_splits = list(params["transform_splits"] or examples_io.split_names(examples))  # none given: every split
    for split in analyze_splits + transform_splits:
        for artifact in all_examples if split in analyze_splits else [examples]:
            examples_io.split_files(ctx.component_id, artifact, split)  # the split exists and holds files
    sample_split = next((s for s in ("eval", "test", "valid", "validation") if s in transform_splits), None)
    if sample_split is None:
        sample_split = next((s for s in transform_splits if s not in analyze_splits), None)
    # tf.Transform's scratch space: its workers write analyzer results there and read them back.
    local_workers = workers_share_local_disk(ctx.beam_pipeline_args) or not ctx.temp_uri
    tft_tmp = os.path.join(ctx.tmp_dir, "tft") if local_workers else filesystem.join(ctx.temp_uri, "tft")
    filesystem.makedirs(tft_tmp)
    analysis = [(a, s, _dataset_key(a, s)) for a in all_examples for s in analyze_splits]
    cache_in = ctx.optional_input("analyzer_cache")
    cached_keys = set()
    if cache_in is not None and filesystem.is_dir(cache_in.uri):
        present = set(filesystem.list_names(cache_in.uri))
        cached_keys = {k for _, _, k in analysis if k.key in present}
    plan = _Plan(where, _checked(user_fn, where), schema, examples, analysis, cached_keys, transform_splits,
                 sample_split, int(params["skew_sample_rows"]), bool(params["compute_statistics"]), tft_tmp)
    adapter_config = plan.tfxio(examples, analyze_splits[0]).TensorAdapterConfig()
    type_specs = tfxio.TensorAdapter(adapter_config).OriginalTypeSpecs()
    check_preprocessing_fn(plan.preprocessing_fn, where, type_specs, os.path.join(ctx.tmp_dir, "trace"))
    return plan


def _analyze(ctx: ExecutorContext, pipeline: Any, plan: _Plan) -> tuple[Any, Any]:
    """Analyze (with the analyzer cache), write the transform graph, the raw metadata, the
    updated cache and, if asked, pre-transform statistics; the transform_fn PCollection."""
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.beam import analyzer_cache
    from tensorflow_transform.tf_metadata import dataset_metadata

    graph_uri = ctx.output("transform_graph").uri
    cache_in = ctx.optional_input("analyzer_cache")
    analysis_data = {key: pipeline | f"Read[{key.key}]" >> plan.tfxio(a, s).BeamSource() for a, s, key in plan.analysis}
    input_cache = (
        pipeline | "ReadCache" >> analyzer_cache.ReadAnalysisCacheFromFS(cache_in.uri, list(plan.cached_keys))
        if plan.cached_keys and cache_in is not None else {}
    )
    adapter_config = plan.tfxio(*plan.analysis[0][:2]).TensorAdapterConfig()
    transform_fn, output_cache = (
        (analysis_data, input_cache, adapter_config) | "Analyze" >> tft_beam.AnalyzeDatasetWithCache(plan.preprocessing_fn)
    )
    _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(graph_uri)
    # WriteTransformFn leaves out the raw schema; TFTransformOutput.raw_* need it.
    _ = dataset_metadata.DatasetMetadata(plan.schema) | "WriteRawMetadata" >> tft_beam.WriteMetadata(
        filesystem.join(graph_uri, "metadata"), pipeline)
    _ = output_cache | "WriteCache" >> analyzer_cache.WriteAnalysisCacheToFS(
        pipeline, ctx.output("updated_analyzer_cache").uri)
    if plan.compute_statistics:
        _statistics(pipeline, plan.schema, analysis_data[plan.analysis[0][2]],
                    filesystem.join(graph_uri, PRE_TRANSFORM_STATS_DIR), "Pre")
    return transform_fn, analysis_data


def _transform_split(ctx: ExecutorContext, pipeline: Any, plan: _Plan, split: str, transform_fn: Any,
                     post_statistics: bool) -> None:
    """Transform one split and write it; on the sample split also the raw/transformed pairs for
    the Trainer's skew check; post-transform statistics on the first analyzed split if asked."""
    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam

    graph_uri = ctx.output("transform_graph").uri
    with_raw = split == plan.sample_split and plan.sample_rows > 0
    split_tfxio = plan.tfxio(plan.examples, split, raw_column=with_raw)
    data = pipeline | f"ReadToTransform[{split}]" >> split_tfxio.BeamSource()
    result, _metadata = (
        ((data, split_tfxio.TensorAdapterConfig()), transform_fn)
        | f"Transform[{split}]" >> tft_beam.TransformDataset(output_record_batches=True)
    )
    _ = (
        result
        | f"Encode[{split}]" >> beam.FlatMap(_encode_transformed)
        | f"Write[{split}]" >> beam.io.WriteToTFRecord(
            filesystem.join(ctx.output("transformed_examples").split_uri(split), "transformed_examples"),
            file_name_suffix=".gz", compression_type=beam.io.filesystem.CompressionTypes.GZIP)
    )
    if with_raw:
        _ = (
            result
            | "PairRawTransformed" >> beam.FlatMap(_pairs_of)
            | "SampleForSkewCheck" >> beam.combiners.Top.Of(plan.sample_rows, key=_sample_key)
            | "FlattenSample" >> beam.FlatMap(lambda rows: rows)
            | "EncodePairs" >> beam.Map(_pair_to_example)
            | "WriteSample" >> beam.io.WriteToTFRecord(
                filesystem.join(graph_uri, layout.SKEW_SAMPLE_DIR, layout.SKEW_SAMPLE_FILE),
                num_shards=1, shard_name_template="", compression_type=beam.io.filesystem.CompressionTypes.GZIP)
        )
    if post_statistics and split in {s for _, s, _ in plan.analysis}:
        post = result | f"PostBatches[{split}]" >> beam.Map(_record_batch_only)
        _statistics(pipeline, None, post, filesystem.join(graph_uri, POST_TRANSFORM_STATS_DIR), "Post")


def _record(ctx: ExecutorContext, plan: _Plan) -> None:
    transformed = ctx.output("transformed_examples")
    for split in plan.transform_splits:
        filesystem.makedirs(transformed.split_uri(split))
    transformed.split_names = plan.transform_splits
    for name in ("span", "version"):
        value = plan.examples.get_property(name)
        if value is not None:
            transformed.set_property(name, value)
    ctx.output("transform_graph").custom_properties.update({
        "preprocessing_fn": plan.where.split(": ", 1)[-1],
        "analyzed_datasets": len(plan.analysis),
        "cached_datasets": len(plan.cached_keys),
        "skew_sample_split": plan.sample_split or "",
    })


def _statistics(pipeline: Any, schema: Any, record_batches: Any, out_dir: str, label: str) -> None:
    """TFDV statistics of a PCollection of RecordBatches into ``out_dir/FeatureStats.pb``."""
    import tensorflow_data_validation as tfdv

    options = tfdv.StatsOptions(schema=schema) if schema is not None else tfdv.StatsOptions()
    _ = (
        record_batches
        | f"{label}Stats" >> tfdv.GenerateStatistics(options)
        | f"{label}WriteStats" >> tfdv.WriteStatisticsToBinaryFile(filesystem.join(out_dir, layout.STATISTICS_FILE))
    )
