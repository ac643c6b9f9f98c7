"""TF Serving's REST JSON <-> numpy arrays, and JSON examples -> serialized tf.Examples.

Request bodies: the row format (``instances``: one entry per example, a JSON object keyed by
input name or a bare value for single-input signatures) and the columnar format (``inputs``).
Binary values come as ``{"b64": "..."}``. Responses: ``predictions`` (row) or ``outputs``
(columnar); string outputs are UTF-8 text, or ``{"b64": ...}`` when the output key ends in
``_bytes`` or the bytes are not UTF-8. Numbers are serialized by orjson straight from numpy.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
import orjson

from penstock.serving.errors import invalid
from penstock.serving.servable import Signature, TensorInfo

_NUMERIC_KINDS = {"f": "biuf", "i": "biu", "u": "bu", "b": "b", "c": "biufc"}


def loads(body: bytes) -> dict[str, Any]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise invalid(f"JSON Parse error: {e}") from None
    if not isinstance(request, dict):
        raise invalid("the request body must be a JSON object")
    return request


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _decode_b64(value: Any) -> bytes:
    text = value["b64"]
    if not isinstance(text, str):
        raise invalid("a {\"b64\": ...} value must hold a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"invalid base64 in {{\"b64\": {text[:40]!r}}}") from None


def _bytes_tree(value: Any, key: str) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return [_bytes_tree(v, key) for v in value]
    if _is_b64(value):
        return _decode_b64(value)
    raise invalid(f"input '{key}': expected DT_STRING values (strings or {{\"b64\": ...}}), "
                  f"got {type(value).__name__}")


def to_array(value: Any, info: TensorInfo) -> np.ndarray:
    """One input's JSON value as an array of the signature's dtype."""
    try:
        return _to_array(value, info)
    except RecursionError:
        raise invalid(f"input '{info.key}': lists nested too deeply") from None


def _to_array(value: Any, info: TensorInfo) -> np.ndarray:
    if info.is_string:
        tree = _bytes_tree(value, info.key)
        if isinstance(tree, bytes):
            array = np.empty((), dtype=object)
            array[()] = tree
            return array
        try:
            array = np.array(tree, dtype=object)
        except ValueError:
            raise invalid(f"input '{info.key}': nested lists of different lengths") from None
        if array.size and not all(isinstance(x, bytes) for x in array.flat):
            raise invalid(f"input '{info.key}': nested lists of different lengths")
        return array
    try:
        array = np.array(value)
    except (ValueError, OverflowError):
        raise invalid(f"input '{info.key}': expected a (nested) list of numbers of equal lengths "
                      f"for {info.dtype_name}") from None
    target = info.np_dtype
    if array.size and array.dtype.kind not in _NUMERIC_KINDS.get(target.kind, ""):
        got = {"U": "strings", "O": "mixed or nested values of different lengths", "f": "non-integer numbers",
               "b": "booleans"}.get(array.dtype.kind, array.dtype.name)
        raise invalid(f"input '{info.key}': expected {info.dtype_name}, got {got}")
    try:
        return array.astype(target, copy=False)
    except (ValueError, OverflowError, TypeError):
        raise invalid(f"input '{info.key}': values do not fit {info.dtype_name}") from None


def decode_instances(instances: Any, sig: Signature) -> dict[str, np.ndarray]:
    """The row format: a list with one entry per example."""
    if not isinstance(instances, list):
        raise invalid("'instances' must be a JSON list (one entry per example)")
    if not instances:
        raise invalid("'instances' is empty")
    first = instances[0]
    if isinstance(first, dict) and not _is_b64(first):
        keys = first.keys()
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict) or _is_b64(instance) or instance.keys() != keys:
                raise invalid(f"instances[{i}]: every instance must be a JSON object with the same keys "
                              f"as instances[0] ({', '.join(sorted(keys))})")
        unknown = [k for k in keys if k not in sig.inputs]
        missing = [k for k in sig.inputs if k not in keys]
        if unknown or missing:
            raise invalid(_name_mismatch(sig, missing, unknown))
        return {k: to_array([inst[k] for inst in instances], sig.inputs[k]) for k in sig.input_names}
    if len(sig.inputs) != 1:
        raise invalid(f"signature '{sig.name}' takes {len(sig.inputs)} inputs ({sig.describe_inputs()}): "
                      "each instance must be a JSON object keyed by input name")
    key = sig.input_names[0]
    return {key: to_array(instances, sig.inputs[key])}


def decode_inputs(inputs: Any, sig: Signature) -> dict[str, np.ndarray]:
    """The columnar format: ``inputs`` is a JSON object keyed by input name, or one bare value."""
    if isinstance(inputs, dict) and not _is_b64(inputs):
        unknown = [k for k in inputs if k not in sig.inputs]
        missing = [k for k in sig.inputs if k not in inputs]
        if unknown or missing:
            raise invalid(_name_mismatch(sig, missing, unknown))
        return {k: to_array(inputs[k], sig.inputs[k]) for k in sig.input_names}
    if len(sig.inputs) != 1:
        raise invalid(f"signature '{sig.name}' takes {len(sig.inputs)} inputs ({sig.describe_inputs()}): "
                      "'inputs' must be a JSON object keyed by input name")
    key = sig.input_names[0]
    return {key: to_array(inputs, sig.inputs[key])}


def _name_mismatch(sig: Signature, missing: list[str], unknown: list[str]) -> str:
    parts = []
    if missing:
        parts.append("missing input(s) " + ", ".join(repr(k) for k in missing))
    if unknown:
        parts.append("unknown input(s) " + ", ".join(repr(k) for k in unknown))
    return f"signature '{sig.name}': {'; '.join(parts)}; it takes: {sig.describe_inputs()}"


def _json_value(array: np.ndarray, key: str) -> Any:
    if array.dtype == object:
        as_b64 = key.endswith("_bytes")
        return _strings_to_json(array.tolist(), as_b64)
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    return array


def _strings_to_json(value: Any, as_b64: bool) -> Any:
    if isinstance(value, list):
        return [_strings_to_json(v, as_b64) for v in value]
    if isinstance(value, bytes):
        if not as_b64:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def encode_predictions(outputs: dict[str, np.ndarray], sig_name: str) -> Any:
    """The row format: one entry per example (an object keyed by output when there are several)."""
    if len(outputs) == 1:
        ((key, array),) = outputs.items()
        if array.ndim == 0:
            raise invalid(f"signature '{sig_name}': output '{key}' is a scalar; use the columnar format ('inputs')")
        return _json_value(array, key)
    batch = None
    for array in outputs.values():
        rows = array.shape[0] if array.ndim else None
        if rows is None or (batch is not None and rows != batch):
            raise invalid(f"signature '{sig_name}': outputs have different batch sizes; "
                          "use the columnar format ('inputs')")
        batch = rows
    converted = {key: _json_value(array, key) for key, array in outputs.items()}
    return [{key: value[i] for key, value in converted.items()} for i in range(batch or 0)]


def encode_outputs(outputs: dict[str, np.ndarray]) -> Any:
    """The columnar format: the only output's value, or an object keyed by output."""
    if len(outputs) == 1:
        ((key, array),) = outputs.items()
        return _json_value(array, key)
    return {key: _json_value(array, key) for key, array in outputs.items()}


def example_from_json(value: Any, where: str) -> bytes:
    """A JSON object of features -> a serialized tf.Example (TF Serving's classify/regress body):
    integers -> int64_list, numbers -> float_list, strings and {"b64": ...} -> bytes_list."""
    from tensorflow.core.example import example_pb2

    if not isinstance(value, dict):
        raise invalid(f"{where}: an example must be a JSON object of features")
    example = example_pb2.Example()
    for name, raw in value.items():
        values = raw if isinstance(raw, list) else [raw]
        feature = example.features.feature[name]
        if all(isinstance(v, str) or _is_b64(v) for v in values):
            feature.bytes_list.value.extend(v.encode("utf-8") if isinstance(v, str) else _decode_b64(v)
                                            for v in values)
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            if any(not -(2**63) <= v < 2**63 for v in values):
                raise invalid(f"{where}: feature '{name}': integer out of int64 range")
            feature.int64_list.value.extend(values)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            feature.float_list.value.extend(float(v) for v in values)
        else:
            raise invalid(f"{where}: feature '{name}': values must all be numbers or all strings "
                          "(or {\"b64\": ...}), not nested lists, objects or booleans")
    return example.SerializeToString()


def examples_from_request(request: dict[str, Any]) -> list[bytes]:
    examples = request.get("examples")
    if not isinstance(examples, list) or not examples:
        raise invalid("'examples' must be a non-empty JSON list of feature objects")
    context = request.get("context")
    prefix = example_from_json(context, "'context'") if context is not None else b""
    return [prefix + example_from_json(e, f"examples[{i}]") for i, e in enumerate(examples)]
