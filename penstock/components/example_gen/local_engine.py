"""ExampleGen's in-process engine: the same conversion as the Beam pipeline, without Beam.

Used when a pipeline would run on Beam's in-memory DirectRunner anyway (one process, this
machine), where Beam only adds per-element work and pipeline start-up. Batches stream through
a bounded window, so memory stays flat however large the input: read (pyarrow, in C++) ->
encode and assign splits (whole-column numpy and Arrow kernels; two threads, as both release
the GIL) -> one writer thread per split frames and gzips (zlib releases the GIL too). Output files are named as the
Beam sink names one shard, ``data_tfrecord-00000-of-00001.gz``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

from penstock.codecs.tfrecords import GzipTFRecordWriter, Records
from penstock.runtime.parallel import ordered_map
from penstock.storage import filesystem

FILE_NAME = "data_tfrecord-00000-of-00001.gz"
_ENCODE_THREADS = 2
_WINDOW = 4  # batches in flight: bounds memory


class _SplitWriter:
    """A writer thread per split, fed through a bounded queue."""

    def __init__(self, path: str) -> None:
        self._queue: queue.Queue[Records | None] = queue.Queue(maxsize=_WINDOW)
        self._writer = GzipTFRecordWriter(path)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, daemon=True,
                                        name=f"penstock-write-{filesystem.basename(filesystem.dirname(path))}")
        self._thread.start()

    def _drain(self) -> None:
        try:
            while (records := self._queue.get()) is not None:
                self._writer.write(records)
        except BaseException as e:  # reported by close()
            self._error = e
            while self._queue.get() is not None:  # keep the producer from blocking
                pass

    def put(self, records: Records) -> None:
        if self._error is None:
            self._queue.put(records)

    def close(self) -> int:
        self._queue.put(None)
        self._thread.join()
        self._writer.close()
        if self._error is not None:
            raise self._error
        return self._writer.records


def write_examples(
    batches: Iterable[tuple[str, Any]],
    convert: Callable[[str, Any], dict[str, Records]],
    split_dirs: dict[str, str],
) -> dict[str, int]:
    """Converts (input split, batch) pairs with ``convert`` and writes each split's records to
    ``<split dir>/FILE_NAME``; returns the record count of every split (0 for one that got none)."""
    writers: dict[str, _SplitWriter] = {}
    try:
        for name, directory in split_dirs.items():
            filesystem.makedirs(directory)
            writers[name] = _SplitWriter(filesystem.join(directory, FILE_NAME))
        for per_split in ordered_map(lambda pair: convert(*pair), batches, _ENCODE_THREADS, _WINDOW):
            for name, records in per_split.items():
                writer = writers.get(name)
                if writer is None:
                    raise KeyError(f"rows assigned to split {name!r}, which is not among {sorted(split_dirs)}")
                writer.put(records)
    finally:
        counts = {}
        errors = []
        for name, writer in writers.items():
            try:
                counts[name] = writer.close()
            except BaseException as e:  # the first one is re-raised below
                errors.append(e)
    if errors:
        raise errors[0]
    return counts
