"""Serialized tf.Examples to an Arrow record batch, column-wise, for the common record shape.

tfx-bsl's decoder parses every record into a protobuf map: about 12 us a row for the taxi
data, nine tenths of StatisticsGen's time. Records written by ExampleGen (and by most writers)
share one shape: each lists the same features in the same order, each feature holding one
packed list or nothing. A chunk of such records decodes with whole-column array arithmetic:
step j reads the j-th feature of every record at once.

Anything else (features in varying orders, a key twice, unpacked lists, unknown fields, empty
records, malformed bytes) makes ``decode`` return None and the caller uses tfx-bsl: the fast
path never guesses. Its output equals tfx-bsl's ``ExamplesToRecordBatchDecoder`` (no schema):
``large_list<int64 | float | large_binary>`` columns sorted by name; a null where a
record lacks the feature or the feature has no value kind; a null-typed column for a feature
that holds no value in the whole chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from penstock.codecs._arrow_buffers import binary_array

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

_BYTES, _FLOAT, _INT64 = 0x0A, 0x12, 0x1A  # Feature's oneof tags
_LEN_FIELD_1, _LEN_FIELD_2 = 0x0A, 0x12
_PAD = 16  # zero bytes after the data, so reading a 10-byte varint never runs off the end


class _Bail(Exception):
    """The chunk is not of the shape this decoder handles."""


def decode(data: bytes, starts: np.ndarray, ends: np.ndarray) -> pa.RecordBatch | None:
    """The records ``data[starts[i]:ends[i]]`` as a record batch, or None to use tfx-bsl."""
    import numpy as np

    try:
        return _decode(_Reader(data), np.asarray(starts, np.int64), np.asarray(ends, np.int64))
    except (_Bail, IndexError):  # IndexError: lengths pointing past the data
        return None


class _Reader:
    """Vectorised reads from one buffer: bytes, or the 8 bytes starting at any offset as one
    little-endian word (one gather compares 8 bytes of a key, or reads a float)."""

    def __init__(self, data: bytes) -> None:
        import numpy as np

        padded = data + bytes(_PAD)
        self.bytes = np.frombuffer(padded, dtype=np.uint8)
        self.words: np.ndarray = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))

    def field(self, pos: np.ndarray, tag: int) -> tuple[np.ndarray, np.ndarray]:
        """At each position, ``tag`` then a varint: (the varint's value, where the field's data
        starts)."""
        import numpy as np

        if len(pos) == 0:
            return np.zeros(0, np.int64), pos
        if (self.bytes[pos] != tag).any():
            raise _Bail
        first = self.bytes[pos + 1]
        if (first < 0x80).all():  # one-byte varints: the usual case
            return first.astype(np.int64), pos + 2
        value, size = _varints(self.bytes, pos + 1)
        return value, pos + 1 + size

    def same_bytes(self, pos: np.ndarray, width: int) -> bytes:
        """The ``width`` bytes at ``pos``, which must be equal in every row."""
        import numpy as np

        first = int(pos[0])
        expected = self.bytes[first : first + width].tobytes()
        for at in range(0, width - 7, 8):
            if (self.words[pos + at] != self.words[first + at]).any():
                raise _Bail
        tail = width % 8
        if tail:
            mask = np.uint64((1 << (8 * tail)) - 1)
            if ((self.words[pos + width - tail] & mask) != (self.words[first + width - tail] & mask)).any():
                raise _Bail
        return expected


def _decode(reader: _Reader, starts: np.ndarray, ends: np.ndarray) -> pa.RecordBatch:
    import numpy as np
    import pyarrow as pa

    n = len(starts)
    if n == 0 or (ends <= starts).any():
        raise _Bail
    length, pos = reader.field(starts, _LEN_FIELD_1)  # Example.features
    _check(pos + length == ends)
    names: list[str] = []
    arrays: list[pa.Array] = []
    while True:
        rows = np.flatnonzero(pos < ends)
        if len(rows) == 0:
            break
        name, array, entry_ends = _feature(reader, pos[rows], ends[rows], n, rows)
        if name in names:
            raise _Bail
        names.append(name)
        arrays.append(array)
        pos[rows] = entry_ends
    order = sorted(range(len(names)), key=names.__getitem__)  # tfx-bsl's order: by name
    return pa.RecordBatch.from_arrays([arrays[i] for i in order], [names[i] for i in order])


def _feature(reader: _Reader, pos: np.ndarray, ends: np.ndarray, n: int, rows: np.ndarray) -> tuple[str, pa.Array, np.ndarray]:
    """Reads one map entry (key, Feature) at ``pos`` of each of ``rows``; all must name the same
    feature. Returns its name, its column over all ``n`` rows, and where each entry ends."""
    import numpy as np
    import pyarrow as pa

    entry_length, entry_start = reader.field(pos, _LEN_FIELD_1)  # Features.feature (a map entry)
    entry_end = entry_start + entry_length
    _check(entry_end <= ends)
    key_length, key_start = reader.field(entry_start, _LEN_FIELD_1)  # the entry's key
    if (key_length != key_length[0]).any():
        raise _Bail
    width = int(key_length[0])
    _check(key_start + width <= entry_end)
    try:
        name = reader.same_bytes(key_start, width).decode("utf-8")
    except UnicodeDecodeError:
        raise _Bail from None
    value_at = key_start + width
    has_value = value_at < entry_end  # an entry without a value holds an empty Feature
    feature_length = np.zeros(len(pos), np.int64)
    feature_start = value_at.copy()
    feature_length[has_value], feature_start[has_value] = reader.field(value_at[has_value], _LEN_FIELD_2)
    _check(~has_value | (feature_start + feature_length == entry_end))
    has_kind = feature_length > 0
    if not has_kind.any():
        return name, pa.nulls(n), entry_end
    at = feature_start[has_kind]
    kind = int(reader.bytes[at[0]])
    if kind not in (_BYTES, _FLOAT, _INT64):
        raise _Bail
    list_length, list_start = reader.field(at, kind)
    list_end = list_start + list_length
    _check(list_end == at + feature_length[has_kind])
    if kind == _BYTES:
        counts, values = _bytes_values(reader, list_start, list_end)
    else:
        counts, values = _packed_values(reader, list_start, list_end, kind)
    valued = rows[has_kind]
    per_row = np.zeros(n, np.int64)
    per_row[valued] = counts
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(per_row, out=offsets[1:])
    if len(valued) == n:
        return name, pa.LargeListArray.from_arrays(pa.array(offsets), values), entry_end
    missing = np.ones(n + 1, bool)
    missing[valued] = False
    missing[n] = False
    return name, pa.LargeListArray.from_arrays(pa.array(offsets, mask=missing), values), entry_end


def _packed_values(reader: _Reader, start: np.ndarray, end: np.ndarray, kind: int) -> tuple[np.ndarray, pa.Array]:
    """Values of Int64List / FloatList fields, each ``0x0a len packed-values`` or empty."""
    import numpy as np
    import pyarrow as pa

    non_empty = end > start
    packed_length = np.zeros(len(start), np.int64)
    packed_start = start.copy()
    packed_length[non_empty], packed_start[non_empty] = reader.field(start[non_empty], _LEN_FIELD_1)
    _check(~non_empty | (packed_start + packed_length == end))
    if kind == _FLOAT:
        if (packed_length % 4).any():
            raise _Bail
        if (packed_length == 4).all():  # one value per row: one gather
            values = (reader.words[packed_start] & np.uint64(0xFFFFFFFF)).astype("<u4").view("<f4")
        else:
            values = reader.bytes[_range_indices(packed_start, packed_length)].view("<f4")
        return packed_length // 4, pa.array(values, pa.float32())
    raw = reader.bytes[_range_indices(packed_start, packed_length)]
    # Packed varints: a byte below 0x80 ends a value.
    last = raw < 0x80
    bounds = np.zeros(len(packed_length) + 1, np.int64)
    np.cumsum(packed_length, out=bounds[1:])
    ends_seen = np.zeros(len(raw) + 1, np.int64)
    np.cumsum(last, out=ends_seen[1:])
    _check(last[bounds[1:][packed_length > 0] - 1])  # each row's bytes end with a complete value
    counts = ends_seen[bounds[1:]] - ends_seen[bounds[:-1]]
    if len(raw) == 0:
        return counts, pa.array(np.zeros(0, np.int64))
    if last.all():  # every value one byte long
        return counts, pa.array(raw.astype(np.int64))
    value_starts = np.flatnonzero(np.concatenate([[True], last[:-1]]))
    position = np.arange(len(raw)) - np.repeat(value_starts, np.diff(np.append(value_starts, len(raw))))
    if position.max() >= 10:
        raise _Bail
    parts = (raw & 0x7F).astype(np.uint64) << (np.uint64(7) * position.astype(np.uint64))
    values = np.add.reduceat(parts, value_starts)
    return counts, pa.array(values.view(np.int64))


def _bytes_values(reader: _Reader, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """Values of BytesList fields: ``(0x0a len bytes)*``, one value per row per step."""
    import numpy as np
    import pyarrow as pa

    cursor = start.copy()
    rows_seen, value_starts, value_lengths = [], [], []
    while True:
        rows = np.flatnonzero(cursor < end)
        if len(rows) == 0:
            break
        length, value_start = reader.field(cursor[rows], _LEN_FIELD_1)
        cursor[rows] = value_start + length
        _check(cursor[rows] <= end[rows])
        rows_seen.append(rows)
        value_starts.append(value_start)
        value_lengths.append(length)
    if not rows_seen:
        return np.zeros(len(start), np.int64), pa.array([], pa.large_binary())
    row = np.concatenate(rows_seen)
    order = np.argsort(row, kind="stable")  # steps are in order within a row, so stable by row
    first = np.concatenate(value_starts)[order]
    length = np.concatenate(value_lengths)[order]
    counts = np.bincount(row, minlength=len(start))
    offsets = np.zeros(len(length) + 1, np.int64)
    np.cumsum(length, out=offsets[1:])
    data = reader.bytes[_range_indices(first, length)]
    return counts, binary_array(offsets, data)


def _range_indices(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices of the concatenated ranges ``[starts[i], starts[i] + lengths[i])``."""
    import numpy as np

    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    before = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=before[1:])
    return np.arange(total, dtype=np.int64) + np.repeat(starts - before, lengths)


def _varints(buf: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The varint at each position: (values, sizes in bytes)."""
    import numpy as np

    first = buf[pos]
    if (first < 0x80).all():  # one byte each: the usual case for lengths
        return first.astype(np.int64), np.ones(len(pos), np.int64)
    table = buf[pos[:, None] + np.arange(10)]
    more = table >= 0x80
    if more.all(axis=1).any():
        raise _Bail
    sizes = np.argmin(more, axis=1) + 1
    shifts = np.uint64(7) * np.arange(10, dtype=np.uint64)
    parts = np.where(np.arange(10) < sizes[:, None], (table & 0x7F).astype(np.uint64) << shifts, np.uint64(0))
    values = np.bitwise_or.reduce(parts, axis=1)
    if (values > np.uint64(1 << 40)).any():  # a length this large is corrupt input
        raise _Bail
    return values.astype(np.int64), sizes.astype(np.int64)


def _check(ok: np.ndarray) -> None:
    if not ok.all():
        raise _Bail
