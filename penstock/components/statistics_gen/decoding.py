"""Decoding Examples files into Arrow record batches for StatisticsGen, shared by both engines
(in process and on Beam): column-wise (``codecs.example_decoder``), with tfx-bsl for records of
other shapes, a block at a time, optionally sampling records reproducibly."""

from __future__ import annotations

from typing import Any

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
