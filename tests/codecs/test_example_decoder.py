"""penstock's column-wise tf.Example decoder: tfx-bsl's output exactly, or no answer at all."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from penstock.codecs import example_decoder, example_encoder


def _spans(records: list[bytes]) -> tuple[bytes, np.ndarray, np.ndarray]:
    """The records in one buffer with TFRecord-like bytes around each, as the reader leaves them."""
    data, starts, ends = b"", [], []
    for record in records:
        data += b"\xff" * 12
        starts.append(len(data))
        data += record
        ends.append(len(data))
        data += b"\x80" * 4
    return data, np.array(starts), np.array(ends)


def _reference(records: list[bytes]) -> pa.RecordBatch:
    from tfx_bsl.coders import example_coder

    return example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)


def _assert_decodes_like_tfx_bsl(records: list[bytes]) -> None:
    ours = example_decoder.decode(*_spans(records))
    assert ours is not None, "expected the column-wise decoder to take these records"
    theirs = _reference(records)
    assert ours.schema == theirs.schema
    assert repr(ours.to_pydict()) == repr(theirs.to_pydict())  # repr: NaN compares equal


MIXED = pa.RecordBatch.from_arrays(
    [
        pa.array([[1], None, [], [-5, 2**40, 0], [2**63 - 1, -(2**63)]], pa.large_list(pa.int64())),
        pa.array([[1.5], None, [], [float("nan"), -0.0, 3.25], [1e30]], pa.large_list(pa.float32())),
        pa.array([[b"x"], None, [], [b"", b"y" * 300, "é".encode()], [b"z" * 200]], pa.large_list(pa.large_binary())),
        pa.array([1, None, 3, -1, 127], pa.int64()),
        pa.array([None] * 5, pa.int64()),
        pa.array(["a", None, "", "long" * 100, "b"], pa.string()),
    ],
    ["ints", "floats", "bytes", "k" * 200, "never_set", "flat"],
)


def test_penstock_records_decode_like_tfx_bsl_nulls_empty_lists_and_all():
    _assert_decodes_like_tfx_bsl(example_encoder.encode(MIXED).to_pylist())
    _assert_decodes_like_tfx_bsl(example_encoder.encode(MIXED.slice(2, 2)).to_pylist())


def test_many_rows_with_wide_varints_and_missing_values():
    rng = np.random.default_rng(3)
    n = 20000
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(rng.integers(-(2**62), 2**62, n)),
            pa.array(rng.random(n).astype("float32"), mask=rng.random(n) < 0.1),
            pa.array([str(x) for x in rng.integers(0, 10**9, n)], mask=rng.random(n) < 0.3),
        ],
        ["a", "b", "c"],
    )
    _assert_decodes_like_tfx_bsl(example_encoder.encode(batch).to_pylist())


def test_records_written_by_tensorflow_decode():
    import tensorflow as tf

    records = []
    for i in range(5):
        example = tf.train.Example()
        example.features.feature["label"].int64_list.value.append(i)
        example.features.feature["words"].bytes_list.value.extend([b"a", b"bc"][: i % 3])
        records.append(example.SerializeToString())
    _assert_decodes_like_tfx_bsl(records)


@pytest.mark.parametrize(
    "records",
    [
        [b""],  # an empty Example
        [b"\x0a\x03\x0a\x01"],  # truncated
        [b"\x0a\x07\x0a\x05\x0a\x01a\x12\x00", b"\x0a\x07\x0a\x05\x0a\x01b\x12\x00"],  # keys differ at one step
        [b"\x0a\x0b\x0a\x09\x0a\x01a\x12\x04\x1a\x02\x08\x01"],  # unpacked int64 (field 1, varint)
        [b"\x10\x01"],  # unknown field
        [b"\x0a\x05\x0a\x03\x0a\x40a"],  # a key longer than its entry
        [b"\x0a\x08\x0a\x06\x0a\x01a\x12\x01\x1a"],  # a Feature cut short
    ],
)
def test_other_shapes_and_malformed_records_are_left_to_tfx_bsl(records):
    assert example_decoder.decode(*_spans(records)) is None


def test_features_in_varying_order_are_left_to_tfx_bsl():
    ab = example_encoder.encode(pa.RecordBatch.from_arrays([pa.array([1]), pa.array([2])], ["a", "b"])).to_pylist()
    ba = example_encoder.encode(pa.RecordBatch.from_arrays([pa.array([2]), pa.array([1])], ["b", "a"])).to_pylist()
    assert example_decoder.decode(*_spans(ab + ab)) is not None
    assert example_decoder.decode(*_spans(ab + ba)) is None
    assert _reference(ab + ba).to_pydict() == {"a": [[1], [1]], "b": [[2], [2]]}


def test_corrupted_records_decode_like_tfx_bsl_or_not_at_all():
    """Single-byte corruptions of valid records: the fast path either declines or agrees with
    tfx-bsl; it never returns something tfx-bsl would not."""
    records = example_encoder.encode(MIXED).to_pylist()
    rng = np.random.default_rng(11)
    agreed = declined = 0
    for _ in range(400):
        mutated = list(records)
        row = int(rng.integers(len(mutated)))
        data = bytearray(mutated[row])
        data[int(rng.integers(len(data)))] = int(rng.integers(256))
        mutated[row] = bytes(data)
        ours = example_decoder.decode(*_spans(mutated))
        if ours is None:
            declined += 1
            continue
        theirs = _reference(mutated)  # must not raise: our decoder accepted the bytes
        assert ours.schema == theirs.schema
        assert repr(ours.to_pydict()) == repr(theirs.to_pydict())
        agreed += 1
    assert agreed > 50 and declined > 50  # both outcomes exercised
