"""PredictionLogs (``tensorflow_serving.apis.prediction_log_pb2``), serialized column-wise.

TFX's BulkInferrer writes one ``PredictionLog{predict_log{request, response}}`` per example,
built as protobuf objects (a ``TensorProto`` per row and output): tens of microseconds a row.
The bytes of such a log are mostly constant per batch: the request's model spec and tensor
header, the response's whole structure (fixed-shape numeric outputs are fixed-width raw
``tensor_content``). Only the serialized example and the lengths around it vary, so a batch is
written as one numpy table of headers, the examples, and one table of responses, joined row
by row by Arrow (as ``example_encoder`` writes tf.Examples). Tests parse the result with the
real protobuf classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from penstock.codecs.example_encoder import _bytes_scalar, _Fields, _header_lengths, _varint

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

_DT_STRING = 7
_EXAMPLES_KEY = b"examples"


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return bytes([number << 3 | 2]) + _varint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return bytes([number << 3]) + _varint(value)


def _shape(dims: list[int]) -> bytes:
    return b"".join(_field(2, _varint_field(1, d)) for d in dims)  # TensorShapeProto.dim { size }


def model_spec(name: str, signature_name: str) -> bytes:
    """A serving ``ModelSpec`` (name = 1, signature_name = 3)."""
    return (_field(1, name.encode()) if name else b"") + (_field(3, signature_name.encode()) if signature_name else b"")


def response_table(outputs: dict[str, np.ndarray], datatypes: dict[str, int], spec: bytes) -> np.ndarray:
    """Each row's serialized ``PredictResponse`` (outputs = 1, model_spec = 2): fixed width, since
    every output has a fixed shape and numeric type."""
    import numpy as np

    rows = len(next(iter(outputs.values())))
    pieces = []
    for key in sorted(outputs):
        values = np.ascontiguousarray(outputs[key])
        per_row = values.reshape(rows, -1).view(np.uint8).reshape(rows, -1)
        header = _varint_field(1, datatypes[key]) + _field(2, _shape([1, *values.shape[1:]]))
        tensor_len = len(header) + 1 + len(_varint(per_row.shape[1])) + per_row.shape[1]
        entry_head = _field(1, key.encode()) + bytes([0x12]) + _varint(tensor_len) + header + bytes([0x22]) + _varint(per_row.shape[1])
        entry_len = len(entry_head) + per_row.shape[1]
        prefix = bytes([0x0A]) + _varint(entry_len) + entry_head
        pieces += [np.broadcast_to(np.frombuffer(prefix, np.uint8), (rows, len(prefix))), per_row]
    if spec:
        tail = _field(2, spec)
        pieces.append(np.broadcast_to(np.frombuffer(tail, np.uint8), (rows, len(tail))))
    return np.concatenate(pieces, axis=1)


def encode(examples: pa.LargeBinaryArray, responses: np.ndarray, spec: bytes) -> pa.LargeBinaryArray:
    """One serialized ``PredictionLog`` per row: the request holds the row's serialized example
    (input ``examples``: a string tensor of shape [1]), the response its fixed-width bytes."""
    import numpy as np
    import pyarrow.compute as pc

    rows = len(examples)
    lengths = pc.binary_length(examples).to_numpy(zero_copy_only=False).astype(np.int64)
    tensor_header = _varint_field(1, _DT_STRING) + _field(2, _shape([1]))
    tensor_len = len(tensor_header) + _header_lengths(lengths) + lengths  # + 0x42 varint(len) example
    entry_key = _field(1, _EXAMPLES_KEY)
    entry_len = len(entry_key) + _header_lengths(tensor_len) + tensor_len
    spec_field = _field(1, spec) if spec else b""
    request_len = len(spec_field) + _header_lengths(entry_len) + entry_len
    response_len = responses.shape[1]
    response_head = bytes([0x12]) + _varint(response_len)
    predict_len = _header_lengths(request_len) + request_len + len(response_head) + response_len

    head = _Fields(rows)
    head.varint(predict_len, tag=0x32)  # PredictionLog.predict_log = 6
    head.varint(request_len, tag=0x0A)  # PredictLog.request = 1
    if spec_field:
        head.constant(spec_field)
    head.varint(entry_len, tag=0x12)  # PredictRequest.inputs = 2 (a map entry)
    head.constant(entry_key + bytes([0x12]))
    head.varint(tensor_len)
    head.constant(tensor_header)
    head.varint(lengths, tag=0x42)  # TensorProto.string_val = 8
    tail = _Fields(rows)
    tail.constant(response_head)  # PredictLog.response = 2
    tail.raw(responses)
    return pc.binary_join_element_wise(head.array(), examples, tail.array(), _bytes_scalar(b""))
