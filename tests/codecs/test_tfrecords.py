"""penstock's TFRecord writer and streaming reader: TensorFlow's format, byte for byte."""

from __future__ import annotations

import gzip

import pytest

from penstock.codecs.tfrecords import GzipTFRecordWriter, count_records, iter_record_spans
from penstock.components.example_gen.local_engine import write_examples
from penstock.errors import InputDataError

RECORDS = [b"", b"a", b"x" * 300, bytes(range(256)) * 40] + [f"row {i}".encode() for i in range(1000)]


def _read(path, block_bytes=4 << 20):
    return [r for spans in iter_record_spans(str(path), block_bytes) for r in spans.records()]


def _write(path, batches):
    writer = GzipTFRecordWriter(str(path))
    for batch in batches:
        writer.write(batch)
    writer.close()
    return writer.records


def test_tensorflow_reads_what_the_writer_writes_and_checks_its_crcs(tmp_path):
    import tensorflow as tf

    path = tmp_path / "data.gz"
    assert _write(path, [RECORDS[:3], RECORDS[3:]]) == len(RECORDS)
    read = list(tf.data.TFRecordDataset(str(path), compression_type="GZIP").as_numpy_iterator())
    assert read == RECORDS


def test_streaming_reader_reads_tensorflow_files_across_small_blocks(tmp_path):
    import tensorflow as tf

    for name, options in (("tf.gz", "GZIP"), ("tf.plain", "")):
        path = tmp_path / name
        with tf.io.TFRecordWriter(str(path), options=options) as writer:
            for record in RECORDS:
                writer.write(record)
        blocks = list(iter_record_spans(str(path), block_bytes=37))
        assert len(blocks) > 10  # streamed in many small blocks
        assert [r for b in blocks for r in b.records()] == RECORDS
        assert count_records(str(path)) == len(RECORDS)


def test_concatenated_gzip_members_are_read_whole(tmp_path):
    first, second = tmp_path / "1.gz", tmp_path / "2.gz"
    _write(first, [RECORDS[:10]])
    _write(second, [RECORDS[10:20]])
    both = tmp_path / "both.gz"
    both.write_bytes(first.read_bytes() + second.read_bytes())
    assert _read(both) == RECORDS[:20]


def test_truncated_and_corrupt_files_name_the_file(tmp_path):
    path = tmp_path / "data.gz"
    _write(path, [RECORDS])
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-7]))
    with pytest.raises(InputDataError, match="cut.gz: truncated"):
        _read(cut)
    corrupt = tmp_path / "corrupt.gz"
    data = bytearray(path.read_bytes())
    data[20:40] = b"\xff" * 20
    corrupt.write_bytes(bytes(data))
    with pytest.raises(InputDataError, match="corrupt.gz"):
        _read(corrupt)


def test_write_examples_counts_per_split_and_reports_unknown_splits(tmp_path):
    batches = [("", [b"a", b"b", b"c"]), ("", [b"d"])]

    def all_odd(_, batch):
        return {"odd": batch}

    counts = write_examples(iter(batches), all_odd, {"even": str(tmp_path / "e"), "odd": str(tmp_path / "o")})
    assert counts == {"even": 0, "odd": 4}
    assert _read(tmp_path / "o" / "data_tfrecord-00000-of-00001.gz") == [
        b"a", b"b", b"c", b"d"]
    with pytest.raises(KeyError, match="'other'"):
        write_examples(iter(batches), lambda _, b: {"other": b}, {"odd": str(tmp_path / "o2")})
