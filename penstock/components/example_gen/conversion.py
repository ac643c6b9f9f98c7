"""Input batches -> serialized tf.Examples grouped by output split, with no Beam in sight.

The same code serves both engines: Beam's DoFns (``beam_fns``) wrap it for distributed runners,
and the in-process engine (``local_engine``) calls it directly. Work is done a record batch at
a time; only split assignment touches rows, and only to hash bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from penstock.codecs.tfrecords import Records, as_record_array
from penstock.components.example_gen import arrow_examples, csv_reader
from penstock.components.example_gen.splitting import SplitConfig, key_bytes
from penstock.storage import filesystem

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

IMPORT_BATCH_ROWS = 8192


@dataclasses.dataclass(frozen=True)
class ReadTask:
    """A piece of one input file, read and converted as a unit (by one Beam worker): for CSV a
    byte range of data lines, for Parquet a range of row groups, else (None) the whole file."""

    input_split: str
    path: str
    part: tuple[int, int] | None = None


def plan_reads(source: str, files: list[tuple[str, str]], target_bytes: int | None) -> list[ReadTask]:
    """The files as read tasks of about ``target_bytes`` each (None: one task per file). Small
    tasks let a runner spread one big file over workers without shuffling its contents."""
    tasks = []
    for input_split, path in files:
        if target_bytes is None or source == "tfrecord":
            tasks.append(ReadTask(input_split, path))
        elif source == "csv":
            tasks += [ReadTask(input_split, path, r) for r in csv_reader.data_ranges(path, target_bytes)]
        else:
            import pyarrow.parquet as pq

            metadata = pq.ParquetFile(filesystem.arrow_source(path)).metadata
            first, size = 0, 0
            for group in range(metadata.num_row_groups):
                size += metadata.row_group(group).total_byte_size
                if size >= target_bytes or group == metadata.num_row_groups - 1:
                    tasks.append(ReadTask(input_split, path, (first, group + 1)))
                    first, size = group + 1, 0
    return tasks


def iter_batches(source: str, task: ReadTask, csv_options: csv_reader.CsvOptions | None) -> Iterator[Any]:
    """A read task's content in batches: text record batches (csv), typed record batches
    (parquet) or lists of serialized records (tfrecord)."""
    path = task.path
    if source == "csv":
        assert csv_options is not None
        columns = csv_reader.read_header(path, csv_options)
        yield from csv_reader.iter_text_batches(path, columns, csv_options, byte_range=task.part)
    elif source == "parquet":
        import pyarrow.parquet as pq

        groups = list(range(*task.part)) if task.part is not None else None
        yield from pq.ParquetFile(filesystem.arrow_source(path)).iter_batches(batch_size=65536, row_groups=groups)
    else:
        from penstock.codecs.tfrecords import iter_records

        chunk: list[bytes] = []
        for record in iter_records(path):
            chunk.append(record)
            if len(chunk) >= IMPORT_BATCH_ROWS:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


class SplitExamples:
    """Encodes a batch and assigns each row its output split (picklable: shipped to Beam workers).

    ``source`` says what a batch is: "csv" (text columns, cast with ``kinds``), "parquet"
    (typed Arrow columns) or "tfrecord" (already serialized tf.Examples)."""

    def __init__(self, source: str, split: SplitConfig, kinds: dict[str, str] | None = None) -> None:
        self._source = source
        self._split = split
        self._kinds = kinds or {}

    def __call__(self, input_split: str, batch: Any) -> dict[str, Records]:
        import numpy as np
        import pyarrow as pa

        # Pre-split input folders name the split, or a split column does; else rows are hashed.
        hashed = not input_split and not self._split.column
        records, keys, split_values = self._encode(batch, hashed)
        if input_split:
            return {input_split: records} if len(records) else {}
        if self._split.column:
            names = np.asarray(split_values, dtype=object)
            return {name: records.filter(pa.array(names == name)) for name in dict.fromkeys(split_values)}
        if isinstance(keys, np.ndarray):
            indices = self._split.bucket_of_hashes(keys)
        else:
            assert keys is not None
            indices = self._split.bucket_of(keys)
        per_split = {}
        for i, name in enumerate(self._split.names):
            chosen = indices == i
            if chosen.any():
                per_split[name] = records.filter(pa.array(chosen))
        return per_split

    def _encode(self, batch: Any, hashed: bool) -> tuple[pa.LargeBinaryArray, list[bytes] | np.ndarray | None, list[str]]:
        """(records, what identifies each row for hashing if ``hashed``: bytes or their CRC-32s,
        the split column's values if there is one)."""
        split = self._split
        drop = (split.column,) if split.column else ()
        split_values: list[str] = []
        keys: list[bytes] | np.ndarray | None = None
        if self._source == "tfrecord":
            records = as_record_array(batch)
            if hashed and not split.key:
                keys = list(batch)  # the serialized records themselves
            elif split.key or split.column:
                import tensorflow as tf

                wanted = split.key or split.column
                values = []
                for record in batch:
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
        if hashed and split.key:
            keys = key_bytes(typed.column(typed.schema.get_field_index(split.key)).to_pylist())
        elif hashed:
            # By the values as text, not the serialized records: the assignment then depends
            # neither on column order nor on how the encoder writes values.
            keys = arrow_examples.row_hashes(batch, drop)
        return records, keys, split_values


def _split_name(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)
