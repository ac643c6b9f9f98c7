"""penstock's column-wise tf.Example encoder against tfx-bsl's protobuf-based one."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from penstock.codecs import example_encoder
from penstock.components.example_gen.arrow_examples import as_list_array, encode_examples


def _reference(batch: pa.RecordBatch) -> list[bytes]:
    from tfx_bsl.coders import example_coder

    columns = [c.cast(pa.large_binary()) if pa.types.is_string(c.type) else c for c in batch.columns]
    lists = pa.RecordBatch.from_arrays([as_list_array(c) for c in columns], batch.schema.names)
    return list(example_coder.RecordBatchToExamples(lists))


def _assert_same_examples(ours: list[bytes], theirs: list[bytes]) -> None:
    import tensorflow as tf
    from tfx_bsl.coders import example_coder

    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        # Deterministic serialization sorts the feature map, so this compares content (NaN too).
        left, right = tf.train.Example.FromString(a), tf.train.Example.FromString(b)
        assert left.SerializeToString(deterministic=True) == right.SerializeToString(deterministic=True), (left, right)
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    x, y = decoder.DecodeBatch(ours), decoder.DecodeBatch(theirs)
    assert sorted(map(str, x.schema)) == sorted(map(str, y.schema))
    assert repr(sorted(x.to_pydict().items())) == repr(sorted(y.to_pydict().items()))  # nulls stay nulls


MIXED = pa.RecordBatch.from_arrays(
    [
        pa.array([[1], None, [], [-5, 2**40, 0], [2**63 - 1, -(2**63)]], pa.large_list(pa.int64())),
        pa.array([[1.5], None, [], [float("nan"), -0.0, 3.25], [1e30]], pa.large_list(pa.float32())),
        pa.array([[b"x"], None, [], [b"", b"y" * 300, "é".encode()], [b"z" * 200]], pa.large_list(pa.large_binary())),
        pa.array([1, None, 3, -1, 127], pa.int64()),
        pa.array([1.0, None, 3.0, -1.5, float("inf")], pa.float32()),
        pa.array(["a", None, "", "long" * 100, "ü"], pa.string()),
    ],
    ["ints", "floats", "bytes", "k" * 200, "flat_float", "flat_string"],
)


def test_mixed_types_nulls_empty_lists_long_keys_and_values_match_tfx_bsl():
    _assert_same_examples(example_encoder.encode(MIXED).to_pylist(), _reference(MIXED))


def test_a_sliced_batch_encodes_only_its_rows():
    part = MIXED.slice(1, 3)
    _assert_same_examples(example_encoder.encode(part).to_pylist(), _reference(part))


def test_many_rows_with_every_varint_width_match_tfx_bsl():
    rng = np.random.default_rng(7)
    n = 5000
    ints = np.concatenate([rng.integers(-(2**62), 2**62, n // 2), 2 ** rng.integers(0, 63, n - n // 2)])
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(ints),
            pa.array(rng.random(n).astype("float32"), mask=rng.random(n) < 0.2),
            pa.array(["v" * int(k) for k in rng.integers(0, 300, n)]),
        ],
        ["a", "b", "c"],
    )
    _assert_same_examples(example_encoder.encode(batch).to_pylist(), _reference(batch))


def test_records_are_deterministic_in_column_order():
    first = example_encoder.encode(MIXED).to_pylist()
    assert first == example_encoder.encode(MIXED).to_pylist()
    assert first[3].index(b"ints") < first[3].index(b"floats") < first[3].index(b"flat_string")


def test_unsupported_columns_fall_back_to_tfx_bsl():
    nulls_inside = pa.RecordBatch.from_arrays([pa.array([[1, None], [2]], pa.large_list(pa.int64()))], ["a"])
    with pytest.raises(example_encoder.UnsupportedColumn, match="'a'"):
        example_encoder.encode(nulls_inside)
    with pytest.raises(example_encoder.UnsupportedColumn, match="int32"):
        example_encoder.encode(pa.RecordBatch.from_arrays([pa.array([1], pa.int32())], ["b"]))
    fine = pa.RecordBatch.from_arrays([pa.array([[1], [2]], pa.large_list(pa.int64()))], ["a"])
    assert encode_examples(fine).to_pylist() == example_encoder.encode(fine).to_pylist()
