"""TensorProto <-> numpy for the gRPC API and warmup records, without TensorFlow's Python helpers
(``tf.make_ndarray`` / ``tf.make_tensor_proto`` cost more than the model call for small tensors).

Reading accepts both encodings a client may send: ``tensor_content`` (raw little-endian bytes) or
the typed value fields (``float_val``, ``int64_val``, ...), with TensorFlow's fill rule (fewer
values than elements: the last one repeats; none: zeros). Writing uses the typed fields, as TF
Serving's Predict does by default (its example clients read ``.float_val``), or
``tensor_content`` when asked (``--enable_serialization_as_tensor_content``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from penstock.serving.errors import RequestError, invalid
from penstock.serving.inference import Task

MAX_ELEMENTS = 1 << 31  # a shape a small message could ask to fill; refuse rather than allocate

DT_STRING = 7
DT_HALF = 19
DT_BOOL = 10
# DataType -> (numpy dtype, typed field holding the values)
_TYPES: dict[int, tuple[Any, str]] = {
    1: (np.float32, "float_val"),
    2: (np.float64, "double_val"),
    3: (np.int32, "int_val"),
    4: (np.uint8, "int_val"),
    5: (np.int16, "int_val"),
    6: (np.int8, "int_val"),
    8: (np.complex64, "scomplex_val"),
    9: (np.int64, "int64_val"),
    10: (np.bool_, "bool_val"),
    17: (np.uint16, "int_val"),
    18: (np.complex128, "dcomplex_val"),
    19: (np.float16, "half_val"),
    22: (np.uint32, "uint32_val"),
    23: (np.uint64, "uint64_val"),
}
_BY_NUMPY = {np.dtype(np_type): dtype for dtype, (np_type, _) in _TYPES.items()}
# fixed-width typed fields are written as one packed blob: (field number, little-endian dtype)
_PACKED = {np.dtype(np.float32): (5, "<f4"), np.dtype(np.float64): (6, "<f8")}


def _dtype_name(dtype: int) -> str:
    from tensorflow.core.framework import types_pb2

    return str(types_pb2.DataType.Name(dtype)) if dtype in types_pb2.DataType.values() else str(dtype)


def to_array(proto: Any, key: str) -> np.ndarray:
    """One request tensor as a numpy array of its own dtype (the model checks it fits)."""
    shape = []
    elements = 1
    for dim in proto.tensor_shape.dim:
        if dim.size < 0:
            raise invalid(f"input '{key}': TensorProto has a negative dimension ({dim.size})")
        shape.append(dim.size)
        elements *= dim.size
    if elements > MAX_ELEMENTS:
        raise invalid(f"input '{key}': TensorProto shape asks for {elements} elements (limit {MAX_ELEMENTS})")
    if proto.dtype == DT_STRING:
        flat = np.empty(len(proto.string_val), dtype=object)
        flat[:] = list(proto.string_val)
        return _fill(flat, elements, shape, key)
    entry = _TYPES.get(proto.dtype)
    if entry is None:
        raise RequestError("UNIMPLEMENTED", f"input '{key}': tensors of type {_dtype_name(proto.dtype)} cannot be "
                                            "sent to the serving APIs")
    np_type, field = entry
    if proto.tensor_content:
        content = proto.tensor_content
        itemsize = np.dtype(np_type).itemsize
        if len(content) != elements * itemsize:
            raise invalid(f"input '{key}': tensor_content has {len(content)} bytes; shape {shape} of "
                          f"{_dtype_name(proto.dtype)} needs {elements * itemsize}")
        return np.frombuffer(content, dtype=np.dtype(np_type).newbyteorder("<")).astype(np_type).reshape(shape)
    values = getattr(proto, field)
    if proto.dtype == DT_HALF:
        flat = np.array(values, dtype=np.uint16).view(np.float16)
    elif field in ("scomplex_val", "dcomplex_val"):
        pairs = np.array(values, dtype=np.float32 if field == "scomplex_val" else np.float64)
        flat = np.empty(len(pairs) // 2, dtype=np_type)
        flat.real, flat.imag = pairs[0::2], pairs[1::2]
    else:
        try:
            flat = np.array(values, dtype=np_type)
        except OverflowError:
            raise invalid(f"input '{key}': a value does not fit {_dtype_name(proto.dtype)}") from None
    return _fill(flat, elements, shape, key)


def _fill(flat: np.ndarray, elements: int, shape: list[int], key: str) -> np.ndarray:
    """TensorFlow's rule for typed fields shorter than the shape: repeat the last value (zeros if none)."""
    if len(flat) == elements:
        return flat.reshape(shape)
    if len(flat) > elements:
        raise invalid(f"input '{key}': {len(flat)} values for shape {shape} ({elements} elements)")
    if len(flat) == 0:
        filler: Any = b"" if flat.dtype == object else 0
        full = np.full(elements, filler, dtype=flat.dtype)
    else:
        full = np.concatenate([flat, np.full(elements - len(flat), flat[-1], dtype=flat.dtype)])
    return full.reshape(shape)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def fill_proto(proto: Any, array: np.ndarray, as_content: bool = False) -> None:
    """Write ``array`` into an (empty) TensorProto: dtype, shape and values."""
    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind in "SU":
        proto.dtype = DT_STRING
    else:
        dtype = _BY_NUMPY.get(array.dtype)
        if dtype is None:
            raise RequestError("UNIMPLEMENTED", f"outputs of numpy type {array.dtype} cannot be returned")
        proto.dtype = dtype
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if proto.dtype == DT_STRING:
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1).tolist())
    elif as_content:
        proto.tensor_content = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    elif array.dtype in _PACKED:
        number, little = _PACKED[array.dtype]
        payload = np.ascontiguousarray(array, dtype=little).tobytes()
        # a packed repeated field is one length-delimited record: parsing it is a memcpy
        proto.MergeFromString(_varint(number << 3 | 2) + _varint(len(payload)) + payload)
    elif proto.dtype == DT_HALF:
        proto.half_val.extend(array.reshape(-1).view(np.uint16).tolist())
    elif array.dtype.kind == "c":
        flat = array.reshape(-1)
        pairs = np.empty(flat.size * 2, dtype=np.float64)
        pairs[0::2], pairs[1::2] = flat.real, flat.imag
        getattr(proto, _TYPES[proto.dtype][1]).extend(pairs.tolist())
    else:
        getattr(proto, _TYPES[proto.dtype][1]).extend(array.reshape(-1).tolist())


def from_array(array: np.ndarray, as_content: bool = False) -> Any:
    from tensorflow.core.framework import tensor_pb2

    proto = tensor_pb2.TensorProto()
    fill_proto(proto, array, as_content)
    return proto


def serialized_examples(input_proto: Any) -> list[bytes]:
    """Serialized tf.Examples of a tensorflow.serving.Input (context merged as TF Serving does:
    the serialized context followed by the example parses as their merge)."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        return [e.SerializeToString() for e in input_proto.example_list.examples]
    if kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        context = with_context.context.SerializeToString()
        return [context + e.SerializeToString() for e in with_context.examples]
    raise invalid("Input is empty.")


def tasks(request: Any) -> list[Task]:
    return [Task(t.model_spec.name, t.model_spec.signature_name, t.method_name) for t in request.tasks]
