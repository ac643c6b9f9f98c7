"""The Beam DoFns of ExampleGen.

They live in an importable module (not in the executor's closure) because Beam's
multi-processing and portable runners import them by name in worker processes.
Work is done a record batch at a time; only split assignment and the final write touch rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from penstock.components.example_gen import arrow_examples, csv_reader
from penstock.components.example_gen.splitting import SplitConfig, key_bytes

METRICS_NAMESPACE = "penstock.example_gen"
_IMPORT_BATCH = 8192


class ReadCsvBatches(beam.DoFn):
    """(input split, path) -> (input split, record batch of text columns)."""

    def __init__(self, options: csv_reader.CsvOptions) -> None:
        self._options = options

    def process(self, element: tuple[str, str]) -> Iterator[tuple[str, Any]]:
        input_split, path = element
        columns = csv_reader.read_header(path, self._options)
        for batch in csv_reader.iter_text_batches(path, columns, self._options):
            yield input_split, batch


class ReadParquetBatches(beam.DoFn):
    """(input split, path) -> (input split, record batch), one row group batch at a time."""

    def process(self, element: tuple[str, str]) -> Iterator[tuple[str, Any]]:
        import pyarrow.parquet as pq

        input_split, path = element
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65536):
            yield input_split, batch


class ReadTFRecordBatches(beam.DoFn):
    """(input split, path) -> (input split, list of serialized records)."""

    def process(self, element: tuple[str, str]) -> Iterator[tuple[str, Any]]:
        input_split, path = element
        from penstock.components.example_gen.tfrecords import iter_records

        chunk: list[bytes] = []
        for record in iter_records(path):
            chunk.append(record)
            if len(chunk) >= _IMPORT_BATCH:
                yield input_split, chunk
                chunk = []
        if chunk:
            yield input_split, chunk


class ToSplitExamples(beam.DoFn):
    """(input split, batch) -> lists of serialized tf.Examples, tagged with their output split.

    ``source`` says what a batch is: "csv" (text columns, cast with ``kinds``), "parquet"
    (typed Arrow columns) or "tfrecord" (already serialized tf.Examples)."""

    def __init__(self, source: str, split: SplitConfig, kinds: dict[str, str] | None = None) -> None:
        self._source = source
        self._split = split
        self._kinds = kinds or {}

    def process(self, element: tuple[str, Any]) -> Iterator[Any]:
        input_split, batch = element
        records, keys, split_values = self._encode(batch)
        if input_split:  # pre-split input folders: the folder names the split
            names = [input_split] * len(records)
        elif self._split.column:
            names = split_values
        else:
            indices = self._split.bucket_of(keys if keys is not None else records)
            names = [self._split.names[i] for i in indices]
        # One element per split per batch: per-row Beam elements would cost more than the work.
        per_split: dict[str, list[bytes]] = {}
        for name, record in zip(names, records):
            per_split.setdefault(name, []).append(record)
        for name, chunk in per_split.items():
            beam.metrics.Metrics.counter(METRICS_NAMESPACE, f"rows.{name}").inc(len(chunk))
            yield beam.pvalue.TaggedOutput(name, chunk)

    def _encode(self, batch: Any) -> tuple[list[bytes], list[bytes] | None, list[str]]:
        split = self._split
        drop = (split.column,) if split.column else ()
        split_values: list[str] = []
        if self._source == "tfrecord":
            records = batch
            keys = None
            if split.key or split.column:
                import tensorflow as tf

                wanted = split.key or split.column
                values = []
                for record in records:
                    feature = tf.train.Example.FromString(record).features.feature.get(wanted)
                    kind = feature.WhichOneof("kind") if feature is not None else None
                    values.append(list(getattr(feature, kind).value) if kind else None)
                if split.key:
                    keys = key_bytes(values)
                else:
                    split_values = [_split_name(v) for v in values]
            return records, keys, split_values
        if split.column:
            split_values = [_split_name(v) for v in batch.column(batch.schema.get_field_index(split.column)).to_pylist()]
        if self._source == "csv":
            typed = csv_reader.typed_batch(batch, self._kinds, drop=drop)
        else:
            import pyarrow as pa

            names = [n for n in batch.schema.names if n not in drop]
            typed = pa.RecordBatch.from_arrays(
                [arrow_examples.arrow_table_column_to_examples_type(batch.column(batch.schema.get_field_index(n))) for n in names],
                names,
            )
        records = arrow_examples.encode_examples(typed)
        if split.key:
            keys = key_bytes(typed.column(typed.schema.get_field_index(split.key)).to_pylist())
        else:
            # Serialized tf.Examples are not canonical (feature map order varies between
            # processes), so rows are hashed by their values instead.
            keys = arrow_examples.row_keys(batch, drop)
        return records, keys, split_values


def _split_name(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)
