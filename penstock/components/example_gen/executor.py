"""Executors of CsvExampleGen, ParquetExampleGen and ImportExampleGen.

Each one resolves its input files (spans, versions, pre-split folders), checks them in a fast
pre-pass in this process (so bad input fails with a message naming file and line, never inside
a Beam worker), then converts: read batches -> tf.Examples -> split -> gzip TFRecords in TFX's
layout (``<uri>/Split-<name>/data_tfrecord-*.gz``), in this process when the pipeline runs on
the in-memory DirectRunner anyway (``local_engine``), else as one Beam pipeline.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

from penstock.beam.pipeline import uses_local_engine
from penstock.components.example_gen import csv_reader, spans
from penstock.components.example_gen.splitting import SplitConfig
from penstock.errors import ExecutionError, InputDataError, PenstockError, PipelineDefinitionError
from penstock.runtime.context import ExecutorContext
from penstock.storage import filesystem

_READ_TASK_BYTES = 32 << 20  # input bytes per Beam read task on multi-process and distributed runners


def run_csv(ctx: ExecutorContext) -> None:
    _run(ctx, "csv")


def run_parquet(ctx: ExecutorContext) -> None:
    _run(ctx, "parquet")


def run_import(ctx: ExecutorContext) -> None:
    _run(ctx, "tfrecord")


def _run(ctx: ExecutorContext, source: str) -> None:
    params = ctx.parameters
    patterns = spans.input_patterns(params, source)
    split = SplitConfig.from_parameters(
        dict(params["output_splits"]),
        params["split_key"],
        params["split_column"],
    )
    if len(patterns) > 1 and (split.key or split.column):
        raise PipelineDefinitionError(f"{ctx.component_id}: split_key/split_column cannot be combined with input_splits")
    resolved = spans.resolve_parameters(params, source)
    files = [(split_name, path) for split_name, paths in resolved.files.items() for path in paths]
    ctx.log.info("reading %d file(s), span %s, version %s", len(files), resolved.span, resolved.version)

    output = ctx.output("examples")
    extra: dict[str, Any] = {}
    row_counts: dict[str, int] | None = None
    if source == "csv":
        converted = None
        if not split.column and uses_local_engine(ctx.beam_pipeline_args):
            converted = _convert_csv_in_one_pass(ctx, files, split, _split_names(patterns, split, set()), output)
        if converted is not None:
            check, row_counts = converted
        else:
            check = _check_csv(ctx, files, split)
        kinds, split_values = check.kinds(), check.split_values
        extra["column_types"] = json.dumps(kinds)
        if check.bad_rows.count:
            extra["bad_rows"] = json.dumps({"count": check.bad_rows.count, "samples": check.bad_rows.samples})
            ctx.log.warning("skipped %d malformed row(s) (bad_rows='skip')", check.bad_rows.count)
    elif source == "parquet":
        kinds, split_values = {}, _check_parquet(files, split)
    else:
        if split.column:
            raise PipelineDefinitionError(f"{ctx.component_id}: split_column is not supported for ImportExampleGen; use input_splits")
        from penstock.codecs.tfrecords import check_examples_file

        for _, path in files:
            check_examples_file(path)
        kinds, split_values = {}, set()

    split_names = _split_names(patterns, split, split_values)
    if row_counts is None:
        csv_options = _csv_options(ctx.parameters) if source == "csv" else None
        row_counts = _write(ctx, _Conversion(source, files, split, kinds, split_names, output, csv_options))
    output.split_names = split_names
    output.set_property("span", resolved.span)
    if resolved.version is not None:
        output.set_property("version", resolved.version)
    output.custom_properties["row_counts"] = json.dumps(row_counts)
    output.custom_properties["input_files"] = json.dumps([p for _, p in files][:100])
    if len(resolved.spans) > 1:
        output.custom_properties["spans"] = json.dumps(resolved.spans)
    output.custom_properties.update(extra)
    empty = [name for name, count in row_counts.items() if count == 0]
    if empty:
        ctx.log.warning("split(s) %s received no rows", ", ".join(empty))


def _split_names(patterns: dict[str, str], split: SplitConfig, split_values: set[str]) -> list[str]:
    if any(patterns):
        names = list(patterns)
    elif split.column:
        names = sorted(split_values)
    else:
        names = list(split.names)
    for name in names:
        if not re.match(r"^[A-Za-z0-9_.-]+$", name):
            raise InputDataError(f"split name {name!r} (from {split.column or 'the input splits'}) must use letters, digits, '_', '-' or '.'")
    return names


def _declared_kinds(params: dict[str, Any]) -> dict[str, str]:
    declared: dict[str, str] = {}
    schema_file = params.get("schema_file")
    if schema_file:
        from penstock.storage import schema as schema_io

        for feature in schema_io.load(schema_file).feature:
            declared[feature.name] = {0: "string", 1: "string", 2: "int", 3: "float"}.get(feature.type, "string")
    for name, kind in (params.get("column_types") or {}).items():
        if kind not in csv_reader.COLUMN_KINDS:
            raise PipelineDefinitionError(f"column_types[{name!r}] = {kind!r}: expected one of {', '.join(csv_reader.COLUMN_KINDS)}")
        declared[name] = kind
    return declared


class _CsvCheck:
    """Reads the CSV files checking everything the conversion relies on (headers, a value per
    split column, type changes, bad rows) and infers column types; ``batches`` yields the text
    batches as it goes, so the check can also feed the conversion (one read instead of two)."""

    def __init__(self, ctx: ExecutorContext, files: list[tuple[str, str]], split: SplitConfig) -> None:
        self._params = ctx.parameters
        self._files = files
        self._split = split
        self.options = _csv_options(ctx.parameters)
        self._declared = _declared_kinds(ctx.parameters)
        self.inference: csv_reader.TypeInference | None = None
        self.bad_rows = csv_reader.BadRows()
        self.split_values: set[str] = set()

    def batches(self) -> Iterator[tuple[str, Any]]:
        options, split = self.options, self._split
        header: list[str] | None = None
        first_path = ""
        for input_split, path in self._files:
            columns = csv_reader.read_header(path, options)
            if header is None:
                header, first_path = columns, path
                named = list(self._params.get("column_types") or {}) + [c for c in (split.key, split.column) if c]
                for name in named:
                    if name not in columns:
                        raise InputDataError(f"{path}: column {name!r} (named in the ExampleGen's parameters) is not in the header {columns}")
                # A schema may describe more features than these files hold (e.g. no label column).
                self.inference = csv_reader.TypeInference(columns, {k: v for k, v in self._declared.items() if k in columns}, options)
            elif set(columns) != set(header):
                raise InputDataError(
                    f"{path}: header {columns} differs from {first_path}'s {header}; all input files must share columns"
                )
            assert self.inference is not None
            rows = 0
            for batch in csv_reader.iter_text_batches(path, columns, options, self.bad_rows):
                self.inference.update(path, batch, rows)
                if split.column:
                    column = batch.column(batch.schema.get_field_index(split.column))
                    if column.null_count:
                        line = csv_reader.line_of_row(path, rows + _first_null(column), options)
                        raise InputDataError(f"{path}, line {line}: split column {split.column!r} is empty")
                    self.split_values.update(column.unique().to_pylist())
                rows += batch.num_rows
                yield input_split, batch
            if rows == 0:
                raise InputDataError(f"{path}: the file has a header but no data rows")

    def kinds(self) -> dict[str, str]:
        assert self.inference is not None
        return self.inference.result()


class _TypesWidened(Exception):
    """A column's type changed after conversion started with the first batch's types."""


def _check_csv(ctx: ExecutorContext, files: list[tuple[str, str]], split: SplitConfig) -> _CsvCheck:
    check = _CsvCheck(ctx, files, split)
    for _ in check.batches():
        pass
    if check.options.skip_bad_rows:
        ctx.log.info("column types: %s", check.kinds())
    return check


def _convert_csv_in_one_pass(
    ctx: ExecutorContext, files: list[tuple[str, str]], split: SplitConfig, split_names: list[str], output: Any
) -> tuple[_CsvCheck, dict[str, int]] | None:
    """Checks and converts in a single read, converting with the types the first batch shows.
    Returns None (having removed what it wrote) when a later batch changes a column's type
    (an int column holding a float, a column empty so far holding numbers): the caller then
    checks all files first and converts in a second read."""
    from penstock.components.example_gen import conversion, local_engine

    check = _CsvCheck(ctx, files, split)
    batches = check.batches()
    first = next(batches)
    kinds = check.kinds()

    def checked() -> Iterator[tuple[str, Any]]:
        yield first
        for item in batches:
            if check.kinds() != kinds:
                raise _TypesWidened
            yield item

    split_dirs = {name: output.split_uri(name) for name in split_names}
    try:
        counts = local_engine.write_examples(checked(), conversion.SplitExamples("csv", split, kinds), split_dirs)
    except _TypesWidened:
        ctx.log.info("column types changed after the first batch (now %s): converting in a second read", check.kinds())
        for directory in split_dirs.values():
            filesystem.delete(directory)
        return None
    return check, counts


def _first_null(column: Any) -> int:
    import pyarrow.compute as pc

    return int(pc.index(pc.is_null(column), True).as_py())


def _check_parquet(files: list[tuple[str, str]], split: SplitConfig) -> set[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from penstock.components.example_gen.arrow_examples import arrow_table_column_to_examples_type

    values: set[str] = set()
    first: tuple[str, Any] | None = None
    for _, path in files:
        try:
            parquet = pq.ParquetFile(filesystem.arrow_source(path))
        except (pa.ArrowInvalid, OSError) as e:
            raise InputDataError(f"{path}: not a readable Parquet file ({e})") from None
        schema = parquet.schema_arrow
        if first is None:
            first = (path, schema)
        elif set(schema.names) != set(first[1].names):
            raise InputDataError(f"{path}: columns {schema.names} differ from {first[0]}'s {first[1].names}")
        if parquet.metadata.num_rows == 0:
            raise InputDataError(f"{path}: the Parquet file has no rows")
        for field in schema:
            try:
                arrow_table_column_to_examples_type(pa.array([], field.type))
            except (TypeError, pa.ArrowNotImplementedError) as e:
                raise InputDataError(f"{path}: column {field.name!r}: {e}") from None
        for name in (split.key, split.column):
            if name and name not in schema.names:
                raise InputDataError(f"{path}: column {name!r} (named in the ExampleGen's parameters) is not in {schema.names}")
        if split.column:
            column = parquet.read(columns=[split.column]).column(0)
            if column.null_count:
                raise InputDataError(f"{path}: split column {split.column!r} has empty values")
            values.update(str(v) for v in column.unique().to_pylist())
    return values


def _csv_options(params: dict[str, Any]) -> csv_reader.CsvOptions:
    return csv_reader.CsvOptions(
        delimiter=params["delimiter"],
        null_values=tuple(params["null_values"]) if params["null_values"] is not None else tuple(csv_reader.DEFAULT_NULL_VALUES),
        skip_bad_rows=params["bad_rows"] == "skip",
    )


@dataclasses.dataclass(frozen=True)
class _Conversion:
    """What to convert and where: the input files (split, path), the output splits, types."""

    source: str  # "csv", "parquet" or "tfrecord"
    files: list[tuple[str, str]]
    split: SplitConfig
    kinds: dict[str, str]
    split_names: list[str]
    output: Any
    csv_options: csv_reader.CsvOptions | None

    def split_dirs(self) -> dict[str, str]:
        return {name: self.output.split_uri(name) for name in self.split_names}


def _write(ctx: ExecutorContext, job: _Conversion) -> dict[str, int]:
    if uses_local_engine(ctx.beam_pipeline_args):
        from penstock.components.example_gen import conversion, local_engine

        batches = ((task.input_split, batch) for task in conversion.plan_reads(job.source, job.files, None)
                   for batch in conversion.iter_batches(job.source, task, job.csv_options))
        return local_engine.write_examples(batches, conversion.SplitExamples(job.source, job.split, job.kinds),
                                           job.split_dirs())
    return _write_with_beam(ctx, job)


def _write_with_beam(ctx: ExecutorContext, job: _Conversion) -> dict[str, int]:
    source, files, split, kinds, split_names, output = job.source, job.files, job.split, job.kinds, job.split_names, job.output
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    from penstock.beam.pipeline import make_pipeline, runs_in_one_process
    from penstock.codecs.tfrecord_sink import WriteTFRecordBatches
    from penstock.components.example_gen import beam_fns, conversion

    pipeline = make_pipeline(ctx.beam_pipeline_args)
    tasks = pipeline | "ReadTasks" >> beam.Create(
        conversion.plan_reads(source, files, None if runs_in_one_process(ctx.beam_pipeline_args) else _READ_TASK_BYTES)
    )
    if not runs_in_one_process(ctx.beam_pipeline_args):
        # Spread the (small) read tasks over workers, so one big file is converted in parallel;
        # each worker then reads, converts and writes its part without another shuffle, so no
        # process ever holds more than a few batches of the data.
        tasks = tasks | "Spread" >> beam.Reshuffle()
    batches = tasks | "ReadBatches" >> beam.ParDo(beam_fns.ReadBatches(source, job.csv_options))
    tagged = batches | "ToExamples" >> beam.ParDo(beam_fns.ToSplitExamples(source, split, kinds)).with_outputs(
        *split_names
    )
    for name in split_names:
        _ = tagged[name] | f"Write[{name}]" >> WriteTFRecordBatches(filesystem.join(output.split_uri(name), "data_tfrecord"))
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except PenstockError:
        raise
    except Exception as e:  # Beam wraps worker errors: surface the original message
        message = str(e)
        match = re.search(r"(InputDataError|PipelineDefinitionError): (.+?)(?: \[while running|$)", message, re.S)
        if match:
            raise InputDataError(match.group(2).strip()) from None
        raise ExecutionError(ctx.component_id, f"the Beam pipeline failed: {message.strip().splitlines()[-1]}") from e
    for name in split_names:  # a split that received no rows still gets its directory
        filesystem.makedirs(output.split_uri(name))
    counts = {name: 0 for name in split_names}
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(beam_fns.METRICS_NAMESPACE))["counters"]
    except NotImplementedError:  # e.g. Beam's DaskRunner collects no metrics: count what the workers wrote
        from penstock.codecs.tfrecords import count_records

        for name in split_names:
            counts[name] = sum(count_records(e.path) for e in filesystem.list_files(output.split_uri(name)))
        return counts
    for counter in counters:
        name = counter.key.metric.name.removeprefix("rows.")
        if name in counts:
            counts[name] += int(counter.committed or counter.attempted or 0)
    return counts
