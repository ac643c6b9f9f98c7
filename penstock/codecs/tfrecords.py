"""TFRecord files of tf.Example (gzip or not): framing, writing and reading, with errors that
name the file.

Written here rather than through TensorFlow's or Beam's writers because those take one record
per call (a gzip ``compress`` and two CRC calls each): at millions of rows that per-record work
costs more than producing the examples. The format is TFRecord's, byte for byte; gzip runs at
level 1 (with ISA-L when installed) because tf.Examples repeat their feature names in every
record, so even fast compression shrinks them well (~12x for the taxi data), and the default
level costs several times more CPU for a few percent.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from penstock import _env
from penstock.codecs._arrow_buffers import binary_array, value_offsets
from penstock.errors import InputDataError
from penstock.storage import filesystem

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

# A batch of serialized records: an Arrow binary array (as ExampleGen makes them) or a list.
Records = Union["pa.LargeBinaryArray", list[bytes]]

GZIP_LEVEL = 1
_LENGTH = struct.Struct("<Q")


_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip stream (header and trailer), 32 KB window


def _gzip_codec() -> Any:
    """ISA-L's zlib-compatible codec when installed (``isal``: compresses ~6x and inflates ~2x
    faster than zlib, for output any gzip reader reads), else zlib."""
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:  # pragma: no cover - isal is a declared dependency
        return zlib


def gzip_compressor() -> Any:
    """A streaming gzip compressor at GZIP_LEVEL."""
    codec = _gzip_codec()
    return codec.compressobj(GZIP_LEVEL, codec.DEFLATED, _GZIP_WBITS)


def gzip_errors() -> tuple[type[Exception], ...]:
    codec = _gzip_codec()
    return (zlib.error, codec.error) if codec is not zlib else (zlib.error,)


def crc32c_function() -> Callable[[bytes], int]:
    try:
        import google_crc32c  # C implementation; installed with Beam's GCP dependencies

        return google_crc32c.value
    except ImportError:  # pragma: no cover - depends on the environment
        import crcmod.predefined

        return crcmod.predefined.mkPredefinedCrcFun("crc-32c")


def frame_records(records: Records, crc32c: Callable[[bytes], int]) -> bytes | memoryview:
    """TFRecord framing: length, masked CRC of length, data, masked CRC of data.

    Only the data CRCs are computed per record; headers and trailers are built for the whole
    batch with numpy and joined with the records in one Arrow call."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    array = as_record_array(records)
    n = len(array)
    if n == 0:
        return b""
    raw_offsets = value_offsets(array)
    lengths = np.diff(raw_offsets)
    base = int(raw_offsets[0])
    data = memoryview(array.buffers()[2])[base : int(raw_offsets[-1])].tobytes()  # the CRC function takes bytes
    bounds = (raw_offsets - base).tolist()
    data_crcs = np.fromiter((crc32c(data[a:b]) for a, b in itertools.pairwise(bounds)), np.uint32, n)
    unique_lengths, which = np.unique(lengths, return_inverse=True)
    length_crcs = np.array([crc32c(_LENGTH.pack(int(v))) for v in unique_lengths], np.uint32)[which]
    header = np.empty((n, 12), np.uint8)
    header[:, :8] = lengths.astype("<u8").view(np.uint8).reshape(n, 8)
    header[:, 8:] = _masked_array(length_crcs).astype("<u4").view(np.uint8).reshape(n, 4)
    trailer = _masked_array(data_crcs).astype("<u4").view(np.uint8).reshape(n, 4)
    framed = pc.binary_join_element_wise(
        _fixed_width(header), array.cast(pa.large_binary()), _fixed_width(trailer), pa.scalar(b"", pa.large_binary())
    )
    start, stop = value_offsets(framed)[[0, n]]
    return memoryview(framed.buffers()[2])[int(start) : int(stop)]  # no copy: compressors take buffers


def as_record_array(records: Records) -> pa.LargeBinaryArray:
    """Records as one Arrow array (the form ExampleGen passes batches of records around in)."""
    import pyarrow as pa

    if isinstance(records, list):
        return pa.array(records, pa.large_binary())
    return records


def _masked_array(crcs: np.ndarray) -> np.ndarray:
    import numpy as np

    c = crcs.astype(np.uint64)
    return ((((c >> np.uint64(15)) | (c << np.uint64(17))) + np.uint64(0xA282EAD8)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def _fixed_width(table: np.ndarray) -> pa.LargeBinaryArray:
    import numpy as np

    n, width = table.shape
    return binary_array(np.arange(0, (n + 1) * width, width), table)


class GzipTFRecordWriter:
    """Appends batches of records to one gzip TFRecord file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.records = 0
        self._file = filesystem.open_output(path)  # closed by close()
        self._compressor = gzip_compressor()
        self._crc32c = crc32c_function()

    def write(self, records: Records) -> None:
        self._file.write(self._compressor.compress(frame_records(records, self._crc32c)))
        self.records += len(records)

    def close(self) -> None:
        self._file.write(self._compressor.flush())
        self._file.close()


class RecordSpans(NamedTuple):
    """Records lying in one buffer: record i is ``data[starts[i]:ends[i]]`` (TFRecord framing
    between them stays in place: slicing out millions of small records costs more than reading)."""

    data: bytes
    starts: np.ndarray
    ends: np.ndarray

    def records(self) -> list[bytes]:
        data = self.data
        return [data[a:b] for a, b in zip(self.starts.tolist(), self.ends.tolist())]


def iter_record_spans(path: str, block_bytes: int = 4 << 20) -> Iterator[RecordSpans]:
    """The records of a (gzip) TFRecord file, one decompressed block at a time, streaming:
    memory holds about one block whatever the file's size. CRCs are not verified (TensorFlow's
    reader does that; this one reads Examples artifacts, for speed)."""
    try:
        yield from _record_spans(path, block_bytes)
    except gzip_errors() as e:
        raise InputDataError(f"{path}: not a valid gzip TFRecord file ({e})") from None


def _record_spans(path: str, block_bytes: int) -> Iterator[RecordSpans]:
    import numpy as np

    gzipped = compression_of(path) == "GZIP"
    codec = _gzip_codec()
    decompressor = codec.decompressobj(_GZIP_WBITS) if gzipped else None
    pending = b""
    unpack_length = _LENGTH.unpack_from
    with filesystem.open_input(path) as f:
        while True:
            block = f.read(block_bytes)
            if decompressor is not None:
                data = decompressor.decompress(block) if block else decompressor.flush()
                while decompressor.eof and decompressor.unused_data:  # concatenated gzip members
                    rest = decompressor.unused_data
                    decompressor = codec.decompressobj(_GZIP_WBITS)
                    data += decompressor.decompress(rest)
            else:
                data = block
            pending = pending + data if pending else data
            pos, end = 0, len(pending)
            starts: list[int] = []
            ends: list[int] = []
            while pos + 12 <= end:
                (length,) = unpack_length(pending, pos)
                stop = pos + 12 + length
                if stop + 4 > end:
                    break
                starts.append(pos + 12)
                ends.append(stop)
                pos = stop + 4
            if starts:
                yield RecordSpans(pending, np.array(starts, np.int64), np.array(ends, np.int64))
            pending = pending[pos:]
            if not block:
                break
    if pending:
        raise InputDataError(f"{path}: truncated TFRecord file ({len(pending)} stray bytes at the end)")


def compression_of(path: str) -> str:
    """"GZIP" when the file starts with the gzip magic bytes, else "" (uncompressed)."""
    with filesystem.open_input(path) as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def iter_records(path: str) -> Iterator[bytes]:
    _env.use_keras_2()
    import tensorflow as tf

    if filesystem.is_remote(path):  # penstock's reader: tf.io.gfile ignores storage emulators
        for spans in iter_record_spans(path):
            yield from spans.records()
        return
    dataset = tf.data.TFRecordDataset(path, compression_type=compression_of(path))
    try:
        yield from dataset.as_numpy_iterator()
    except tf.errors.DataLossError as e:
        raise InputDataError(f"{path}: not a valid TFRecord file ({e.message.splitlines()[0]})") from None


def check_examples_file(path: str, sample: int = 5) -> None:
    """Fail early, naming the file, when it is not TFRecords of tf.Example."""
    _env.use_keras_2()
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    if filesystem.size(path) == 0:
        raise InputDataError(f"{path}: the file is empty; expected TFRecords of tf.Example")
    for i, record in enumerate(iter_records(path)):
        if i >= sample:
            break
        try:
            example = tf.train.Example.FromString(record)
        except DecodeError:
            raise InputDataError(f"{path}: record {i + 1} is not a serialized tf.Example") from None
        if not example.features.feature and record:
            raise InputDataError(f"{path}: record {i + 1} is not a serialized tf.Example (no features)")


def count_records(path: str) -> int:
    """Records in a (gzip) TFRecord file, from its framing: for runners without metrics."""
    return sum(len(spans.starts) for spans in iter_record_spans(path))
