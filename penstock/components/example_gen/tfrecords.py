"""Reading TFRecord files of tf.Example (gzip or not), with errors that name the file."""

from __future__ import annotations

import os
from collections.abc import Iterator

from penstock.errors import InputDataError


def compression_of(path: str) -> str:
    """"GZIP" when the file starts with the gzip magic bytes, else "" (uncompressed)."""
    with open(path, "rb") as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def iter_records(path: str) -> Iterator[bytes]:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    dataset = tf.data.TFRecordDataset(path, compression_type=compression_of(path))
    try:
        yield from dataset.as_numpy_iterator()
    except tf.errors.DataLossError as e:
        raise InputDataError(f"{path}: not a valid TFRecord file ({e.message.splitlines()[0]})") from None


def check_examples_file(path: str, sample: int = 5) -> None:
    """Fail early, naming the file, when it is not TFRecords of tf.Example."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    if os.path.getsize(path) == 0:
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
    """Records in a (gzip) TFRecord file, reading only the framing: for runners without metrics."""
    import gzip
    import struct

    opener = gzip.open if compression_of(path) == "GZIP" else open
    count = 0
    with opener(path, "rb") as f:
        while True:
            header = f.read(12)
            if not header:
                return count
            if len(header) < 12:
                raise InputDataError(f"{path}: truncated TFRecord file after {count} records")
            (length,) = struct.unpack("<Q", header[:8])
            f.seek(length + 4, 1)
            count += 1
