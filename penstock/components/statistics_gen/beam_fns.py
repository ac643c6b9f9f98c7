"""StatisticsGen's Beam DoFn: an Examples file -> Arrow record batches, decoded column-wise.

In an importable module (not the executor's closure) because Beam's multi-processing and
portable runners import DoFns by name in worker processes. It replaces tfxio's
``TFExampleRecord.BeamSource``, whose per-record tfx-bsl decoding was ~90% of the work; the
decoding is ``example_gen.example_decoder``'s, with tfx-bsl for records of other shapes, exactly
as the in-process engine does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

BLOCK_BYTES = 1 << 20  # compressed bytes per batch (both engines): ~9 MB of records, decoded while in cache


def decode_block(spans: Any, sample_rate: float | None = None, seed: int = 0) -> Any:
    """One block of records as a record batch (column-wise, or by tfx-bsl when it declines);
    with ``sample_rate``, each record kept with that probability (reproducibly: ``seed``)."""
    from penstock.codecs import example_decoder

    if sample_rate is not None and sample_rate < 1:
        import numpy as np

        from penstock.codecs.tfrecords import RecordSpans

        keep = np.random.default_rng(seed).random(len(spans.starts)) < sample_rate
        spans = RecordSpans(spans.data, spans.starts[keep], spans.ends[keep])
    batch = example_decoder.decode(*spans)
    if batch is None:
        from tfx_bsl.coders import example_coder

        batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(spans.records())
    return batch


def block_seed(path: str, block: int) -> int:
    """A seed per file and block, so that a sample does not depend on which worker reads what."""
    import zlib

    return zlib.crc32(f"{path}:{block}".encode())


class DecodeExamplesFile(beam.DoFn):
    """Path of a (gzip) TFRecord file of tf.Examples -> its records, a record batch per block
    (optionally a sample of them)."""

    def __init__(self, sample_rate: float | None = None) -> None:
        self._sample_rate = sample_rate

    def process(self, path: str) -> Iterator[Any]:
        from penstock.codecs.tfrecords import iter_record_spans

        for block, spans in enumerate(iter_record_spans(path, BLOCK_BYTES)):
            batch = decode_block(spans, self._sample_rate, block_seed(path, block))
            if batch.num_rows:
                yield batch
