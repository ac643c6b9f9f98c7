"""StatisticsGen's Beam DoFn: an Examples file -> Arrow record batches (``decoding``).

In an importable module (not the executor's closure) because Beam's multi-processing and
portable runners import DoFns by name in worker processes. It replaces tfxio's
``TFExampleRecord.BeamSource``, whose per-record tfx-bsl decoding was ~90% of the work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from penstock.components.statistics_gen import decoding


class DecodeExamplesFile(beam.DoFn):
    """Path of a (gzip) TFRecord file of tf.Examples -> its records, a record batch per block
    (optionally a sample of them)."""

    def __init__(self, sample_rate: float | None = None) -> None:
        self._sample_rate = sample_rate

    def process(self, path: str) -> Iterator[Any]:
        from penstock.codecs.tfrecords import iter_record_spans

        for block, spans in enumerate(iter_record_spans(path, decoding.BLOCK_BYTES)):
            batch = decoding.decode_block(spans, self._sample_rate, decoding.block_seed(path, block))
            if batch.num_rows:
                yield batch
