"""Executor of StatisticsGen: TFDV statistics for every split.

On the default runner (the in-memory DirectRunner, one process) statistics are computed in this
process with TFDV's own in-memory generators, streaming: blocks of records are decoded
(column-wise, ``example_decoder``; tfx-bsl for records of other shapes) and summarised on two
threads (numpy, tfx-bsl and TFDV's kernels release the GIL) and the partial results merged, so
memory stays flat. Starting a Beam pipeline costs seconds and Beam's per-element
work made it ~1.7x slower at 1M rows. Any explicitly chosen runner goes through one Beam
pipeline, which decodes (and samples) files with the same code (``decoding``).
"""

from __future__ import annotations

import json
from typing import Any

from penstock.beam.pipeline import make_pipeline, uses_local_engine
from penstock.dsl.artifact import Artifact
from penstock.errors import ExecutionError, InputDataError, PipelineDefinitionError
from penstock.runtime.context import ExecutorContext
from penstock.storage import examples as examples_io
from penstock.storage import schema as schema_io
from penstock.storage import statistics as statistics_io


def run(ctx: ExecutorContext) -> None:
    import tensorflow_data_validation as tfdv

    examples = ctx.input("examples")
    schema_artifact = ctx.optional_input("schema")
    splits = examples_io.select_splits(ctx.component_id, examples_io.split_names(examples),
                                       ctx.parameters["exclude_splits"], "Examples artifact")
    if not splits:
        raise InputDataError(f"{ctx.component_id}: the Examples artifact {examples.uri} has no split to compute statistics for")
    options = tfdv.StatsOptions()
    if schema_artifact is not None:
        options.schema = schema_io.load(schema_artifact.uri)
    sample_rate = ctx.parameters["sample_rate"]
    if sample_rate is not None and not 0 < float(sample_rate) <= 1:
        raise PipelineDefinitionError(f"{ctx.component_id}: sample_rate must be in (0, 1], got {sample_rate!r}")
    # Sampling is done per record while decoding: TFDV's own sample_rate keeps or drops whole
    # record batches, which for a small split means all or nothing.

    output = ctx.output("statistics")
    sources = {split: examples_io.split_files(ctx.component_id, examples, split) for split in splits}
    if uses_local_engine(ctx.beam_pipeline_args):
        _statistics_in_process(sources, options, output, sample_rate)
    else:
        _statistics_with_beam(ctx, sources, options, output, sample_rate)

    counts = {}
    for split in splits:
        stats = statistics_io.load(output, split, ctx.component_id)
        counts[split] = int(stats.datasets[0].num_examples) if stats.datasets else 0
    output.split_names = splits
    span = examples.get_property("span")
    if span is not None:
        output.set_property("span", span)
    output.custom_properties["num_examples"] = json.dumps(counts)


def _statistics_in_process(sources: dict[str, list[str]], options: Any, output: Artifact, sample_rate: float | None) -> None:
    from tensorflow_data_validation.statistics import stats_impl

    from penstock.codecs.tfrecords import RecordSpans, iter_record_spans
    from penstock.components.statistics_gen import decoding
    from penstock.runtime.parallel import ordered_map
    from penstock.storage import filesystem

    generators = stats_impl.get_generators(options, in_memory=True)

    def summarise(item: tuple[str, int, RecordSpans]) -> list[Any]:
        path, block, spans = item
        batch = decoding.decode_block(spans, sample_rate, decoding.block_seed(path, block))
        return stats_impl.generate_partial_statistics_in_memory(batch, options, generators)

    block_bytes = decoding.BLOCK_BYTES
    for split, files in sources.items():
        chunks = ((path, block, spans) for path in files
                  for block, spans in enumerate(iter_record_spans(path, block_bytes)))
        merged: list[Any] | None = None
        for partial in ordered_map(summarise, chunks, threads=2, window=3):
            merged = partial if merged is None else [
                generator.merge_accumulators([total, part]) for generator, total, part in zip(generators, merged, partial)
            ]
        if merged is None:
            raise InputDataError(f"split {split!r} ({filesystem.dirname(files[0])}) holds no examples")
        statistics_io.save(output, split, stats_impl.extract_statistics_output(merged, generators))


def _statistics_with_beam(
    ctx: ExecutorContext, sources: dict[str, list[str]], options: object, output: Artifact, sample_rate: float | None
) -> None:
    import apache_beam as beam
    import tensorflow_data_validation as tfdv

    from penstock.components.statistics_gen.beam_fns import DecodeExamplesFile

    pipeline = make_pipeline(ctx.beam_pipeline_args)
    for split, files in sources.items():
        _ = (
            pipeline
            | f"Files[{split}]" >> beam.Create(files)
            | f"Spread[{split}]" >> beam.Reshuffle()
            | f"Decode[{split}]" >> beam.ParDo(DecodeExamplesFile(sample_rate))
            | f"Stats[{split}]" >> tfdv.GenerateStatistics(options)
            | f"Write[{split}]" >> tfdv.WriteStatisticsToBinaryFile(statistics_io.path(output.uri, split))
        )
    try:
        pipeline.run().wait_until_finish()
    except Exception as e:
        raise ExecutionError(ctx.component_id, f"computing statistics failed: {str(e).strip().splitlines()[-1]}") from e
