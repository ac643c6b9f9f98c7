"""TF Serving's REST JSON <-> numpy arrays and tf.Examples, with TF Serving's rules (its
util/json_tensor.cc), so a request that works there works here and gets the same answer.

Requests: ``NaN``, ``Infinity`` and ``-Infinity`` are numbers (TF Serving parses them); a value
must be of its input's type: any number for float inputs, integers (no ``1.0``) in range for
integer inputs (unsigned ones included), ``true``/``false`` for bool inputs, strings or
``{"b64": ...}`` for string inputs. Shapes come from the JSON (every list at a level of equal
length); whether the model takes that shape is the model's business, as in TF Serving.

Responses: float outputs are written as TF Serving writes them (6 significant digits when they
read back as the same float32/float64, else 9/17; whole numbers get ``.0``; ``NaN``,
``Infinity``), so a float32 score 0.1 is ``0.1`` and not ``0.10000000149011612``. String outputs
are text, or ``{"b64": ...}`` when the output key ends in ``_bytes`` (or, unlike TF Serving,
which would write invalid JSON, when the bytes are not UTF-8).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from penstock.serving.errors import RequestError, invalid
from penstock.serving.servable import TensorInfo

_DTYPE_STRINGS = {1: "float", 2: "double", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
                  8: "complex64", 9: "int64", 10: "bool", 14: "bfloat16", 17: "uint16", 18: "complex128",
                  19: "half", 22: "uint32", 23: "uint64"}
_FLOATS = (1, 2, 19)
_INTS = (3, 4, 5, 6, 9, 17, 22, 23)
DT_BOOL, DT_STRING = 10, 7


def dtype_string(dtype: int) -> str:
    return _DTYPE_STRINGS.get(dtype, str(dtype))


# ---- parsing ------------------------------------------------------------------------------------


def loads(body: bytes) -> dict[str, Any]:
    """The request object. orjson first (fast); the standard library when orjson refuses the
    document, which it does for NaN/Infinity literals and integers beyond 64 bits."""
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):
            raise invalid(f"JSON Parse error: {e}") from None
    if not isinstance(request, dict):
        raise invalid(f"JSON Value: {debug_string(request)} Is not object")
    return request


def debug_string(value: Any, limit: int = 256) -> str:
    """A JSON value for an error message, cut at ``limit`` characters as TF Serving does."""
    try:
        text = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text[:limit]


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _decode_b64(value: Any) -> bytes:
    if not _is_b64(value):
        raise invalid(f"JSON Value: {debug_string(value)} not formatted correctly for base64 data")
    text = value["b64"]
    try:  # TF Serving's decoder (absl::Base64Unescape) also takes the text without its padding
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid("Unable to base64 decode") from None


# ---- JSON value -> array -----------------------------------------------------------------------


def _type_error(value: Any, info: TensorInfo) -> RequestError:
    return invalid(f"JSON Value: {debug_string(value)} Type: {_json_type(value)} is not of expected type: "
                   f"{dtype_string(info.dtype)}")


def _leaf(value: Any, info: TensorInfo) -> Any:
    """One scalar of the JSON tree, checked against the input's type (TF Serving's AddValueToTensor)."""
    dtype = info.dtype
    if dtype == DT_STRING:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict):
            return _decode_b64(value)
        raise _type_error(value, info)
    if isinstance(value, bool):
        if dtype == DT_BOOL:
            return value
        raise _type_error(value, info)
    if dtype in _FLOATS:
        if isinstance(value, (int, float)):
            return float(value)
        raise _type_error(value, info)
    if dtype in _INTS:
        limits = np.iinfo(info.np_dtype)
        if isinstance(value, int) and limits.min <= value <= limits.max:
            return value
        raise _type_error(value, info)
    if dtype == DT_BOOL:
        raise _type_error(value, info)
    raise RequestError("UNIMPLEMENTED", f"Conversion of JSON Value: {debug_string(value)} to type: "
                                        f"{dtype_string(dtype)}")


def _dense_shape(value: Any) -> list[int]:
    """The shape a nested list claims by its first elements (TF Serving's GetDenseTensorShape)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: list[int], info: TensorInfo, out: list[Any]) -> None:
    if not isinstance(value, list):
        if level != len(shape):
            raise invalid(f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                          f"Expected at level: {len(shape)}")
        out.append(_leaf(value, info))
        return
    if level >= len(shape):
        raise invalid(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise invalid(f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: "
                      f"{shape[level]}")
    for item in value:
        _fill(item, level + 1, shape, info, out)


def _slow_array(value: Any, info: TensorInfo) -> np.ndarray:
    shape = _dense_shape(value)
    flat: list[Any] = []
    _fill(value, 0, shape, info, flat)
    array = np.empty(len(flat), dtype=object) if info.dtype == DT_STRING else None
    if array is not None:
        array[:] = flat
        return array.reshape(shape)
    return np.array(flat, dtype=info.np_dtype).reshape(shape)


def to_array(value: Any, info: TensorInfo, may_have_bools: bool = True) -> np.ndarray:
    """One input's JSON value as an array of the signature's dtype. Numbers go through numpy in
    one call; anything numpy cannot vouch for (strings, possible booleans hidden among numbers,
    integers it widened to float) takes the element-by-element path, which also names the culprit."""
    if info.np_dtype is None:
        raise RequestError("UNIMPLEMENTED", f"Conversion of JSON Value: {debug_string(value)} to type: "
                                            f"{dtype_string(info.dtype)}")
    try:
        if info.dtype != DT_STRING and not (may_have_bools and info.dtype != DT_BOOL):
            fast = _fast_array(value, info)
            if fast is not None:
                return fast
        return _slow_array(value, info)
    except RecursionError:
        raise invalid(f"input '{info.key}': lists nested too deeply") from None


CHUNK_ROWS = 16384


def _fast_array(value: Any, info: TensorInfo) -> np.ndarray | None:
    try:
        if isinstance(value, list) and len(value) > CHUNK_ROWS:
            # np.array holds the GIL for the whole list: in slices, the event loop gets turns between them
            parts = [np.array(value[i:i + CHUNK_ROWS]) for i in range(0, len(value), CHUNK_ROWS)]
            if len({p.shape[1:] for p in parts}) != 1:
                return None
            array = np.concatenate(parts)
        else:
            array = np.array(value)
    except (ValueError, OverflowError):
        return None
    kind, target = array.dtype.kind, info.np_dtype
    if array.size == 0:
        return array.astype(target)
    if info.dtype in _FLOATS and kind in "fiu":
        return array.astype(target)
    if info.dtype in _INTS and kind in "iu":
        limits = np.iinfo(target)
        if limits.min <= array.min() and array.max() <= limits.max:
            return array.astype(target)
        return None
    if info.dtype == DT_BOOL and kind == "b":
        return array
    return None


def _named_inputs(sig_inputs: dict[str, TensorInfo]) -> str:
    return ",".join(sorted(sig_inputs))


def decode_instances(instances: Any, sig_inputs: dict[str, TensorInfo], may_have_bools: bool) -> dict[str, np.ndarray]:
    """The row format: a list with one entry per example; the tensors get a leading batch dimension."""
    if not isinstance(instances, list):
        raise invalid(f"JSON Value: {debug_string(instances)} Expecting 'instances' to be an list/array")
    if not instances:
        raise invalid("JSON Value: [] No values in 'instances' array")
    first = instances[0]
    objects = isinstance(first, dict) and not _is_b64(first)
    if not isinstance(first, dict) and len(sig_inputs) > 1:
        raise invalid("instances is a plain list, but expecting list of objects as multiple input tensors required "
                      "as per tensorinfo_map")
    if not objects:
        for i, instance in enumerate(instances):
            if isinstance(instance, dict) and not _is_b64(instance):
                raise invalid(f"Expecting value/list but got object at item {i} of input list")
        ((key, info),) = sig_inputs.items()
        return {key: _stack(instances, info, may_have_bools, "")}
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict) or _is_b64(instance):
            raise invalid(f"Expecting object but got list at item {i} of input list")
        if instance.keys() != sig_inputs.keys():
            unknown = [k for k in instance if k not in sig_inputs]
            if unknown:
                raise invalid(f"Failed to process element: {i} key: {unknown[0]} of 'instances' list. Error: "
                              f"INVALID_ARGUMENT: JSON object: does not have named input: {unknown[0]}")
            raise invalid(f"Failed to process element: {i} of 'instances' list. JSON object: "
                          f"{debug_string(instance)} keys must be equal to: {_named_inputs(sig_inputs)}")
    return {key: _stack([inst[key] for inst in instances], info, may_have_bools, key)
            for key, info in sig_inputs.items()}


def _stack(values: list[Any], info: TensorInfo, may_have_bools: bool, key: str) -> np.ndarray:
    """Instances of one input stacked: every instance must have the same shape (checked one by
    one only when the stacking fails, to name the instance as TF Serving does)."""
    try:
        return to_array(values, info, may_have_bools)
    except RequestError:
        first_shape = _dense_shape(values[0])
        for i, value in enumerate(values):
            shape = _dense_shape(value)
            if shape != first_shape:
                where = f" key: {key}" if key else ""
                raise invalid(f"Failed to process element: {i}{where} of 'instances' list. Error: INVALID_ARGUMENT: "
                              f"Expecting shape [{','.join(map(str, first_shape))}] but got: "
                              f"[{','.join(map(str, shape))}]") from None
        raise


def decode_inputs(inputs: Any, sig_inputs: dict[str, TensorInfo], may_have_bools: bool) -> dict[str, np.ndarray]:
    """The columnar format: an object keyed by input name, or one bare value for one input."""
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(sig_inputs) > 1:
            raise invalid("inputs is a plain value/list, but expecting an object as multiple input tensors "
                          "required as per tensorinfo_map")
        ((key, info),) = sig_inputs.items()
        return {key: to_array(inputs, info, may_have_bools)}
    arrays = {}
    for key, info in sig_inputs.items():
        if key not in inputs:
            raise invalid(f"Missing named input: {key} in 'inputs' object.")
        arrays[key] = to_array(inputs[key], info, may_have_bools)
    return arrays


def decode_predict(request: dict[str, Any], sig_inputs: dict[str, TensorInfo],
                   may_have_bools: bool = True) -> tuple[dict[str, np.ndarray], bool]:
    """(inputs, row_format) of a :predict body."""
    has_instances, has_inputs = "instances" in request, "inputs" in request
    if has_instances and has_inputs:
        raise invalid(f"JSON Value: {debug_string(request)} Not formatted correctly expecting only one of 'inputs' "
                      "or 'instances' keys to exist ")
    if has_instances:
        return decode_instances(request["instances"], sig_inputs, may_have_bools), True
    if has_inputs:
        return decode_inputs(request["inputs"], sig_inputs, may_have_bools), False
    raise invalid("Missing 'inputs' or 'instances' key")


def signature_name(request: dict[str, Any]) -> str:
    name = request.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid(f"JSON Value: {debug_string(request)} not formatted correctly. 'signature_name' key must be a "
                      "string value.")
    return name


# ---- tf.Examples from JSON ---------------------------------------------------------------------

_KINDS = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}


def _add_feature_value(value: Any, name: str, feature: Any) -> None:
    """TF Serving's AddValueToFeature: a feature's first value fixes its kind."""
    if value is None or isinstance(value, list) or (isinstance(value, dict) and not _is_b64(value)):
        raise invalid(f"Feature: {name} has element with unexpected JSON type: {_json_type(value)}")
    if isinstance(value, bool) or (isinstance(value, int) and -(2**63) <= value < 2**64):
        kind = "int64_list"
    elif isinstance(value, (int, float)):
        kind = "float_list"
    else:
        kind = "bytes_list"
    current = feature.WhichOneof("kind")
    if current not in (None, kind):
        raise invalid(f"Unexpected element type in feature: {name} expecting type: {_KINDS[current]}")
    if kind == "int64_list":
        if not isinstance(value, bool) and value >= 2**63:
            raise invalid(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        feature.int64_list.value.append(int(value))
    elif kind == "float_list":
        feature.float_list.value.append(float(value))
    else:
        feature.bytes_list.value.append(value.encode("utf-8") if isinstance(value, str) else _decode_b64(value))


def example_from_json(value: Any) -> Any:
    from tensorflow.core.example import example_pb2

    if not isinstance(value, dict):
        raise invalid(f"Example must be JSON object but got JSON {_json_type(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        feature = example.features.feature[name]
        for item in content if isinstance(content, list) else [content]:
            _add_feature_value(item, name, feature)
    return example


def examples_from_request(request: dict[str, Any]) -> list[bytes]:
    """Serialized tf.Examples of a :classify/:regress body; ``context`` merges into each (its
    serialization followed by the example's parses as their merge, as in TF Serving)."""
    context = request.get("context")
    prefix = example_from_json(context).SerializeToString() if "context" in request else b""
    examples = request.get("examples")
    if "examples" not in request:
        raise invalid(f"JSON Value: {debug_string(request)} When method is classify, key 'examples' is expected and "
                      "was not found")
    if not isinstance(examples, list):
        raise invalid(f"JSON Value: {debug_string(request)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid(f"JSON Value: {debug_string(request)} 'examples' value is an empty array")
    return [prefix + example_from_json(e).SerializeToString() for e in examples]


# ---- arrays -> JSON ----------------------------------------------------------------------------


def _float_text(value: float, is64: bool) -> str:
    """TF Serving's WriteDecimal for one value (the vectorized _float_texts costs more below ~32)."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    text = f"{value:.6g}"
    if is64:
        if float(text) != value:
            text = f"{value:.17g}"
    elif _F32.pack(float(text)) != _F32.pack(value):
        text = f"{value:.9g}"
    return text if ("." in text or "e" in text) else text + ".0"


_F32 = struct.Struct("<f")


def _float_texts(flat: np.ndarray) -> list[str]:
    """TF Serving's WriteDecimal for every value: %.6g when it reads back as the same value of the
    tensor's type, else max_digits10; '.0' on whole numbers; NaN, Infinity, -Infinity."""
    is64 = flat.dtype == np.float64
    if flat.size <= 32:
        return [_float_text(v, is64) for v in flat.astype(np.float64).tolist()]
    values = flat.astype(np.float64).tolist()
    texts = [f"{v:.6g}" for v in values]
    finite = np.isfinite(flat)
    with np.errstate(over="ignore", invalid="ignore"):
        back = np.array(texts, dtype=np.float64)
        same = back == flat if is64 else back.astype(np.float32) == flat.astype(np.float32)
    digits = 17 if is64 else 9
    for i in np.flatnonzero(finite & ~same).tolist():
        texts[i] = f"{values[i]:.{digits}g}"
    texts = [t if ("." in t or "e" in t) else t + ".0" for t in texts]
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            v = values[i]
            texts[i] = "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return texts


def _nest_rows(texts: list[str], shape: Sequence[int]) -> list[str]:
    """The JSON texts of a tensor's entries along its first dimension, from its flat value texts."""
    level = texts
    for axis in range(len(shape) - 1, 0, -1):
        size = shape[axis]
        outer = int(np.prod(shape[:axis]))
        if size == 0:
            level = ["[]"] * outer
        else:
            level = ["[" + ",".join(level[i * size:(i + 1) * size]) + "]" for i in range(outer)]
    return level


def _nest(texts: list[str], shape: Sequence[int]) -> str:
    if not shape:
        return texts[0]
    return "[" + ",".join(_nest_rows(texts, shape)) + "]"


def _string_json(value: Any, as_b64: bool) -> Any:
    if isinstance(value, list):
        return [_string_json(v, as_b64) for v in value]
    if isinstance(value, bytes):
        if not as_b64:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode("ascii")}
    return str(value)


def _check_renderable(array: np.ndarray) -> None:
    if array.dtype.kind == "c":
        raise invalid(f"Failed to write JSON value for tensor type: {array.dtype.name}")


def render_rows(array: np.ndarray, key: str) -> list[bytes]:
    """Each entry of an output tensor's first dimension as JSON text (for the row format)."""
    _check_renderable(array)
    if array.dtype.kind == "f":
        return [row.encode() for row in _nest_rows(_float_texts(array.reshape(-1)), array.shape)]
    if array.dtype == object or array.dtype.kind in "SU":
        as_b64 = key.endswith("_bytes")
        return [orjson.dumps(_string_json(v, as_b64)) for v in array.tolist()]
    return [orjson.dumps(v) for v in array.tolist()]


def render(array: np.ndarray, key: str) -> bytes:
    """One output tensor as JSON text (for the columnar format)."""
    _check_renderable(array)
    if array.dtype.kind == "f":
        return _nest(_float_texts(array.reshape(-1)), array.shape).encode()
    if array.dtype == object or array.dtype.kind in "SU":
        return orjson.dumps(_string_json(array.tolist(), key.endswith("_bytes")))
    return orjson.dumps(array.tolist())


def encode_predictions(outputs: dict[str, np.ndarray]) -> Any:
    """The row format: one entry per example (an object keyed by output when there are several)."""
    batch = -1
    for key, array in outputs.items():
        if array.ndim == 0:
            raise invalid(f"Tensor name: {key} has no shape information ")
        if batch >= 0 and array.shape[0] != batch:
            raise invalid(f"Tensor name: {key} has inconsistent batch size: {array.shape[0]} expecting: {batch}")
        batch = array.shape[0]
    rows = {key: [orjson.Fragment(text) for text in render_rows(array, key)] for key, array in outputs.items()}
    if len(outputs) == 1:
        return next(iter(rows.values()))
    return [{key: rows[key][i] for key in outputs} for i in range(batch)]


def encode_outputs(outputs: dict[str, np.ndarray]) -> Any:
    """The columnar format: the only output's value, or an object keyed by output."""
    if len(outputs) == 1:
        ((key, array),) = outputs.items()
        return orjson.Fragment(render(array, key))
    return {key: orjson.Fragment(render(array, key)) for key, array in outputs.items()}


def encode_classifications(rows: list[list[tuple[bytes, float]]]) -> Any:
    scores = _float_texts(np.array([s for row in rows for _, s in row], dtype=np.float32))
    out = []
    position = 0
    for row in rows:
        pairs = []
        for label, _ in row:
            pairs.append(orjson.Fragment(b"[" + orjson.dumps(_string_json(label, False)) + b","
                                         + scores[position].encode() + b"]"))
            position += 1
        out.append(pairs)
    return out


def encode_regressions(values: np.ndarray) -> Any:
    return orjson.Fragment(_nest(_float_texts(values.astype(np.float32)), values.shape).encode())


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
