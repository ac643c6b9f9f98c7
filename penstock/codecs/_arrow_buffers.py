"""Binary Arrow arrays read and built from their raw buffers.

The encoder, decoder, TFRecord framing and split hashing all work on a binary array's offsets
and data buffer directly (pyarrow 10 exposes no ``.offsets`` on binary arrays), so that per-row
work stays in numpy instead of Python bytes objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


def value_offsets(array: pa.Array) -> np.ndarray:
    """A binary or string array's value offsets (n + 1, into its data buffer), large or not."""
    import numpy as np
    import pyarrow.types as pat

    width = np.int64 if pat.is_large_binary(array.type) or pat.is_large_string(array.type) else np.int32
    return np.frombuffer(array.buffers()[1], dtype=width)[array.offset : array.offset + len(array) + 1]


def binary_array(offsets: np.ndarray, data: pa.Buffer | np.ndarray) -> pa.LargeBinaryArray:
    """A large binary array of ``len(offsets) - 1`` values: value i is ``data[offsets[i]:offsets[i + 1]]``."""
    import numpy as np
    import pyarrow as pa

    if isinstance(data, np.ndarray):
        data = pa.py_buffer(np.ascontiguousarray(data))
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), data])
