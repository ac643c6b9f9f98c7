"""Executor of :class:`penstock.components.transform.component.Transform` (imported only when it runs).

Order of work: load the schema, find ``preprocessing_fn``, trace it once on placeholders built
from the schema (user mistakes surface in a second, naming the user's line, before any Beam
work), then one Beam pipeline analyzes the train split(s) with tf.Transform, transforms every
split, writes the transform graph with BOTH transformed and raw metadata, the analyzer cache,
a paired raw/transformed sample of the eval split for the Trainer's skew check and, if asked,
pre/post-transform statistics.
"""

from __future__ import annotations

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


def run(ctx: ExecutorContext) -> None:
    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.beam import analyzer_cache
    from tensorflow_transform.tf_metadata import dataset_metadata
    from tfx_bsl.public import tfxio

    from penstock.beam.pipeline import make_pipeline, workers_share_local_disk

    _env.skip_autograph_for_libraries()
    params = ctx.parameters
    all_examples = ctx.inputs.get("examples") or []
    if not all_examples:
        raise ExecutionError(ctx.component_id, "input 'examples' resolved to no artifact")
    examples = all_examples[-1]
    schema = schema_io.load(ctx.input("schema").uri)
    user_fn, where = resolve_user_function(ctx.component_id, params, "preprocessing_fn", "preprocessing_fn")
    where = f"{ctx.component_id}: {where}"
    preprocessing_fn = _checked(user_fn, where)

    splits = examples_io.split_names(examples)
    analyze_splits = list(params["analyze_splits"])
    transform_splits = list(params["transform_splits"] or splits)  # none given: every split
    for split in analyze_splits + transform_splits:
        for artifact in all_examples if split in analyze_splits else [examples]:
            examples_io.split_files(ctx.component_id, artifact, split)  # the split exists and holds files
    sample_split = next((s for s in ("eval", "test", "valid", "validation") if s in transform_splits), None)
    if sample_split is None:
        sample_split = next((s for s in transform_splits if s not in analyze_splits), None)

    def make_tfxio(artifact: Artifact, split: str, raw_column: bool = False) -> Any:
        return tfxio.TFExampleRecord(
            file_pattern=examples_io.split_pattern(artifact, split),
            schema=schema,
            raw_record_column_name=RAW_RECORD_COLUMN if raw_column else None,
            telemetry_descriptors=_TELEMETRY,
        )

    source_tfxio = make_tfxio(examples, analyze_splits[0])
    adapter_config = source_tfxio.TensorAdapterConfig()
    type_specs = tfxio.TensorAdapter(adapter_config).OriginalTypeSpecs()
    check_preprocessing_fn(preprocessing_fn, where, type_specs, os.path.join(ctx.tmp_dir, "trace"))
    # tf.Transform's scratch space: its workers write analyzer results there and read them back.
    local_workers = workers_share_local_disk(ctx.beam_pipeline_args) or not ctx.temp_uri
    tft_tmp = os.path.join(ctx.tmp_dir, "tft") if local_workers else filesystem.join(ctx.temp_uri, "tft")
    filesystem.makedirs(tft_tmp)

    graph_uri = ctx.output("transform_graph").uri
    transformed = ctx.output("transformed_examples")
    cache_out = ctx.output("updated_analyzer_cache")
    cache_in = ctx.optional_input("analyzer_cache")
    compute_statistics = bool(params["compute_statistics"])
    sample_rows = int(params["skew_sample_rows"])
    raw_metadata = dataset_metadata.DatasetMetadata(schema)

    analysis_keys = [(a, s, _dataset_key(a, s)) for a in all_examples for s in analyze_splits]
    cached_keys = set()
    if cache_in is not None and filesystem.is_dir(cache_in.uri):
        present = set(filesystem.list_names(cache_in.uri))
        cached_keys = {k for _, _, k in analysis_keys if k.key in present}
    ctx.log.info("Transform: analyzing %s (%d cached), transforming %s",
                 [k.key for _, _, k in analysis_keys], len(cached_keys), transform_splits)

    try:
        with make_pipeline(ctx.beam_pipeline_args) as pipeline:
            with tft_beam.Context(temp_dir=tft_tmp, passthrough_keys={RAW_RECORD_COLUMN}):
                analysis_data = {
                    key: pipeline | f"Read[{key.key}]" >> make_tfxio(a, s).BeamSource()
                    for a, s, key in analysis_keys
                }
                input_cache = (
                    pipeline | "ReadCache" >> analyzer_cache.ReadAnalysisCacheFromFS(
                        cache_in.uri, list(cached_keys))
                    if cached_keys and cache_in is not None else {}
                )
                transform_fn, output_cache = (
                    (analysis_data, input_cache, adapter_config)
                    | "Analyze" >> tft_beam.AnalyzeDatasetWithCache(preprocessing_fn)
                )
                _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(graph_uri)
                # WriteTransformFn leaves out the raw schema; TFTransformOutput.raw_* need it.
                _ = raw_metadata | "WriteRawMetadata" >> tft_beam.WriteMetadata(
                    filesystem.join(graph_uri, "metadata"), pipeline)
                _ = output_cache | "WriteCache" >> analyzer_cache.WriteAnalysisCacheToFS(
                    pipeline, cache_out.uri)

                if compute_statistics:
                    _statistics(pipeline, schema, analysis_data[analysis_keys[0][2]],
                                filesystem.join(graph_uri, PRE_TRANSFORM_STATS_DIR), "Pre")

                for split in transform_splits:
                    with_raw = split == sample_split and sample_rows > 0
                    split_tfxio = make_tfxio(examples, split, raw_column=with_raw)
                    data = pipeline | f"ReadToTransform[{split}]" >> split_tfxio.BeamSource()
                    result, _metadata = (
                        ((data, split_tfxio.TensorAdapterConfig()), transform_fn)
                        | f"Transform[{split}]" >> tft_beam.TransformDataset(output_record_batches=True)
                    )
                    out_dir = transformed.split_uri(split)
                    _ = (
                        result
                        | f"Encode[{split}]" >> beam.FlatMap(_encode_transformed)
                        | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                            filesystem.join(out_dir, "transformed_examples"), file_name_suffix=".gz",
                            compression_type=beam.io.filesystem.CompressionTypes.GZIP)
                    )
                    if with_raw:
                        _ = (
                            result
                            | "PairRawTransformed" >> beam.FlatMap(_pairs_of)
                            | "SampleForSkewCheck" >> beam.combiners.Top.Of(sample_rows, key=_sample_key)
                            | "FlattenSample" >> beam.FlatMap(lambda rows: rows)
                            | "EncodePairs" >> beam.Map(_pair_to_example)
                            | "WriteSample" >> beam.io.WriteToTFRecord(
                                filesystem.join(graph_uri, layout.SKEW_SAMPLE_DIR, layout.SKEW_SAMPLE_FILE),
                                num_shards=1, shard_name_template="",
                                compression_type=beam.io.filesystem.CompressionTypes.GZIP)
                        )
                    if compute_statistics and split in analyze_splits:
                        post = result | f"PostBatches[{split}]" >> beam.Map(_record_batch_only)
                        _statistics(pipeline, None, post,
                                    filesystem.join(graph_uri, POST_TRANSFORM_STATS_DIR), "Post")
                        compute_statistics = False  # one split is enough, as in TFX
    except (UserCodeError, ExecutionError):
        raise
    except Exception as e:
        described = describe_user_exception(e)
        if _raised_in_user_code(e):
            raise UserCodeError(f"{where} failed while tf.Transform ran: {described}") from e
        raise ExecutionError(ctx.component_id, f"tf.Transform pipeline failed: {described}") from e

    for split in transform_splits:
        filesystem.makedirs(transformed.split_uri(split))
    transformed.split_names = transform_splits
    for name in ("span", "version"):
        value = examples.get_property(name)
        if value is not None:
            transformed.set_property(name, value)
    ctx.output("transform_graph").custom_properties.update({
        "preprocessing_fn": where.split(": ", 1)[-1],
        "analyzed_datasets": len(analysis_keys),
        "cached_datasets": len(cached_keys),
        "skew_sample_split": sample_split or "",
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
