"""Arrow record batches to serialized tf.Examples, batch at a time.

Converting whole batches avoids per-row Python work; only split assignment touches each
row, and only to hash its bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


def as_list_array(values: pa.Array) -> pa.Array:
    """A flat column as one-value lists; a null becomes a null list (an empty, i.e. missing, feature)."""
    import numpy as np
    import pyarrow as pa

    if isinstance(values.type, (pa.ListType, pa.LargeListType)):
        return values
    valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(valid, out=offsets[1:])
    mask = np.concatenate([~valid, [False]])
    flat = values.filter(pa.array(valid)) if values.null_count else values
    return pa.LargeListArray.from_arrays(pa.array(offsets, mask=mask), flat)


def arrow_table_column_to_examples_type(column: pa.Array) -> pa.Array:
    """Any Arrow column (e.g. from Parquet) as the int64 / float32 / bytes list a tf.Example holds."""
    import pyarrow as pa
    import pyarrow.types as pat

    is_list = pat.is_list(column.type) or pat.is_large_list(column.type)
    flat_type = column.type.value_type if is_list else column.type
    if pat.is_integer(flat_type) or pat.is_boolean(flat_type) or pat.is_timestamp(flat_type) or pat.is_date(flat_type):
        target: pa.DataType = pa.int64()
    elif pat.is_floating(flat_type) or pat.is_decimal(flat_type):
        target = pa.float32()
    elif pat.is_string(flat_type) or pat.is_large_string(flat_type) or pat.is_binary(flat_type) or pat.is_large_binary(flat_type):
        target = pa.large_binary()
    else:
        raise TypeError(f"type {column.type} has no tf.Example equivalent (int, float or bytes)")
    if is_list:
        if pat.is_timestamp(flat_type) or pat.is_date(flat_type):
            column = column.cast(pa.large_list(pa.int64()))
        return column.cast(pa.large_list(target))
    if pat.is_timestamp(flat_type) or pat.is_date(flat_type) or pat.is_boolean(flat_type):
        column = column.cast(pa.int64())
    return as_list_array(column.cast(target))


def row_hashes(batch: pa.RecordBatch, drop: tuple[str, ...] = ()) -> np.ndarray:
    """A CRC-32 per row of its values as text (columns in name order, so column order in the
    file does not matter): a stable input for hash-based splitting."""
    import itertools
    import zlib

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    from penstock.codecs._arrow_buffers import value_offsets

    texts = []
    for name in sorted(n for n in batch.schema.names if n not in drop):
        column = batch.column(batch.schema.get_field_index(name))
        if pat.is_list(column.type) or pat.is_large_list(column.type):
            column = pa.array([None if v is None else repr(v) for v in column.to_pylist()], pa.string())
        elif not pat.is_string(column.type):
            column = pc.cast(column, pa.string())
        texts.append(column)
    if not texts:
        return np.full(batch.num_rows, zlib.crc32(b""), np.uint32)
    joined = pc.binary_join_element_wise(*texts, "\x1f", null_handling="replace", null_replacement="\x00")
    offsets = value_offsets(joined).tolist()
    data = memoryview(joined.buffers()[2])  # CRC over slices of the buffer: no bytes object per row
    crc32 = zlib.crc32
    return np.fromiter((crc32(data[a:b]) for a, b in itertools.pairwise(offsets)), np.uint32, len(joined))


def encode_examples(batch: pa.RecordBatch) -> pa.LargeBinaryArray:
    """Serialized tf.Examples, one per row of a batch of int64 / float32 / bytes columns (flat,
    a null being a missing feature, or lists): penstock's column-wise encoder, or tfx-bsl's for
    what it does not write (e.g. nulls inside lists)."""
    import pyarrow as pa

    from penstock.codecs import example_encoder

    try:
        return example_encoder.encode(batch)
    except example_encoder.UnsupportedColumn:
        from tfx_bsl.coders import example_coder

        lists = pa.RecordBatch.from_arrays([as_list_array(c) for c in batch.columns], batch.schema.names)
        return pa.array(example_coder.RecordBatchToExamples(lists), pa.large_binary())
