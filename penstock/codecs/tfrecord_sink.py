"""A Beam file sink writing TFRecords a batch of records at a time.

Beam's WriteToTFRecord handles one record per element: at millions of rows its per-element
work (a gzip ``compress`` call and two CRC calls per record, plus element overhead) costs more
than producing the examples. This sink takes lists of serialized records, frames them into
one buffer and writes that, keeping Beam's FileBasedSink machinery (temporary files, atomic
finalisation, shard naming) and the exact TFRecord format (framing and gzip level: ``tfrecords``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes

from penstock.codecs.tfrecords import Records, crc32c_function, frame_records, gzip_compressor


class _GzipWriter:
    """Gzip-compresses everything written to an open Beam file handle."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self._compressor = gzip_compressor()

    def write(self, data: bytes) -> None:
        self.raw.write(self._compressor.compress(data))

    def finish(self) -> None:
        self.raw.write(self._compressor.flush())


class _TFRecordBatchSink(filebasedsink.FileBasedSink):
    def __init__(self, file_path_prefix: str) -> None:
        super().__init__(
            file_path_prefix=file_path_prefix,
            coder=None,
            file_name_suffix=".gz",
            num_shards=0,
            shard_name_template=None,
            mime_type="application/octet-stream",
            compression_type=CompressionTypes.UNCOMPRESSED,  # gzip is done here, at level 1
        )
        self._crc32c: Callable[[bytes], int] | None = None

    def open(self, temp_path: str) -> Any:
        return _GzipWriter(super().open(temp_path))

    def write_record(self, file_handle: Any, value: Records) -> None:
        if self._crc32c is None:
            self._crc32c = crc32c_function()
        file_handle.write(frame_records(value, self._crc32c))

    def close(self, file_handle: Any) -> None:
        file_handle.finish()
        super().close(file_handle.raw)

    def __getstate__(self) -> dict[str, Any]:  # the CRC function is not picklable
        state = dict(self.__dict__)
        state["_crc32c"] = None
        return state


class WriteTFRecordBatches(beam.PTransform):
    """Writes a PCollection of record batches (``tfrecords.Records``) as gzip TFRecord files ``<prefix>-SSSSS-of-NNNNN.gz``."""

    def __init__(self, file_path_prefix: str) -> None:
        super().__init__()
        self._sink = _TFRecordBatchSink(file_path_prefix)

    def expand(self, pcoll: Any) -> Any:
        return pcoll | beam.io.Write(self._sink)
