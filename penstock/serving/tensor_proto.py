"""TensorProto <-> numpy for the gRPC API, with TensorFlow's own converters (both encodings a
client may send, tensor_content or the typed value fields, are understood)."""

from __future__ import annotations

from typing import Any

import numpy as np

from penstock.serving.errors import invalid

MAX_ELEMENTS = 1 << 26  # a shape a small message could ask to fill; refuse rather than allocate


def to_array(proto: Any, key: str) -> np.ndarray:
    import tensorflow as tf

    elements = 1
    for dim in proto.tensor_shape.dim:
        if dim.size < 0:
            raise invalid(f"input '{key}': TensorProto has a negative dimension ({dim.size})")
        elements *= dim.size
    if elements > MAX_ELEMENTS:
        raise invalid(f"input '{key}': TensorProto shape asks for {elements} elements (limit {MAX_ELEMENTS})")
    try:
        array = tf.make_ndarray(proto)
    except (ValueError, TypeError, KeyError) as e:
        raise invalid(f"input '{key}': malformed TensorProto: {e}") from None
    if not isinstance(array, np.ndarray):
        array = np.asarray(array)
    return array


def from_array(array: np.ndarray) -> Any:
    import tensorflow as tf

    return tf.make_tensor_proto(array)
