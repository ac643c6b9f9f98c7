"""One loaded SavedModel version: its signatures, input validation and the call itself.

The signature defs (what the metadata API reports, byte for byte as TF Serving does) come from
``saved_model.pb``; the callables are the concrete functions ``tf.saved_model.load`` restores,
looked up once per signature so a request pays only for the call. Validation happens before a
request reaches the model (names, dtypes, shapes), so a client mistake is a clear 400 rather
than a TensorFlow traceback.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from penstock.serving.errors import RequestError, invalid

log = logging.getLogger("penstock.serving")

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DT_STRING = 7
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000


@dataclass(frozen=True)
class TensorInfo:
    """A signature input or output: its key, dtype and (possibly partial) shape."""

    key: str
    dtype: int  # tensorflow DataType enum
    dtype_name: str  # "DT_FLOAT"
    np_dtype: Any  # numpy dtype; object for strings
    shape: tuple[int | None, ...] | None  # None: unknown rank

    @property
    def is_string(self) -> bool:
        return self.dtype == DT_STRING

    def describe_shape(self) -> str:
        if self.shape is None:
            return "any shape"
        return "[" + ",".join("-1" if d is None else str(d) for d in self.shape) + "]"


def describe_shape(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


class Signature:
    """A callable signature of a loaded model."""

    def __init__(self, name: str, method_name: str, inputs: dict[str, TensorInfo],
                 outputs: dict[str, TensorInfo], function: Any) -> None:
        self.name = name
        self.method_name = method_name
        self.inputs = inputs
        self.outputs = outputs
        self._function = function
        self.input_names = tuple(inputs)
        # Rows of several requests can be stacked only if every input has a free batch dimension.
        self.batchable = all(info.shape is not None and len(info.shape) >= 1 and info.shape[0] is None
                             for info in inputs.values())

    def describe_inputs(self) -> str:
        return ", ".join(f"{k} ({i.dtype_name} {i.describe_shape()})" for k, i in self.inputs.items())

    def validate(self, inputs: dict[str, np.ndarray]) -> int | None:
        """Check names, dtypes and shapes; return the common batch size (None if inputs disagree)."""
        if inputs.keys() != self.inputs.keys():
            missing = [k for k in self.inputs if k not in inputs]
            unknown = [k for k in inputs if k not in self.inputs]
            parts = []
            if missing:
                parts.append("missing input(s) " + ", ".join(repr(k) for k in missing))
            if unknown:
                parts.append("unknown input(s) " + ", ".join(repr(k) for k in unknown))
            raise invalid(f"signature '{self.name}': {'; '.join(parts)}; it takes: {self.describe_inputs()}")
        batch: int | None = -1
        for key, array in inputs.items():
            info = self.inputs[key]
            if info.is_string:
                if array.dtype != object:
                    raise invalid(f"input '{key}': expected {info.dtype_name}, got numbers")
            elif array.dtype != info.np_dtype:
                raise invalid(f"input '{key}': expected {info.dtype_name}, got {array.dtype.name}")
            if info.shape is not None:
                ok = len(info.shape) == array.ndim and all(
                    d is None or d == a for d, a in zip(info.shape, array.shape))
                if not ok:
                    raise invalid(f"input '{key}': expected shape {info.describe_shape()}, "
                                  f"got {describe_shape(array.shape)}")
            rows = array.shape[0] if array.ndim else None
            if batch == -1:
                batch = rows
            elif batch != rows:
                batch = None
        return batch if batch != -1 else None

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call the model on validated inputs. Data errors TensorFlow finds (e.g. an unparsable
        tf.Example) are the client's: they become INVALID_ARGUMENT."""
        import tensorflow as tf

        try:
            result = self._function(**inputs)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as e:
            raise invalid(f"signature '{self.name}': the model rejected the input: {_first_line(e.message)}") from None
        except (TypeError, ValueError) as e:
            raise invalid(f"signature '{self.name}': the model rejected the input: {_first_line(str(e))}") from None
        return {key: tensor.numpy() for key, tensor in result.items()}


_TF_NOISE = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "File ", "[[")


def _first_line(text: str) -> str:
    """The line of a TensorFlow error that says what is wrong (not the graph-node boilerplate)."""
    lines = [ln.strip() for ln in text.splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith(_TF_NOISE)]
    return (useful[0] if useful else text.strip())[:500]


class Servable:
    """A loaded version of a model."""

    def __init__(self, name: str, version: int, path: str, loaded: Any,
                 signatures: dict[str, Signature], signature_def_map: Any) -> None:
        self.name = name
        self.version = version
        self.path = path
        self._loaded = loaded  # keeps the restored variables alive as long as the servable
        self.signatures = signatures
        self.signature_def_map = signature_def_map  # tensorflow.serving.SignatureDefMap proto
        self.signature_def_json = _signature_def_json(signature_def_map)

    def signature(self, name: str) -> Signature:
        sig = self.signatures.get(name or DEFAULT_SIGNATURE)
        if sig is None:
            raise RequestError(
                "INVALID_ARGUMENT" if name else "FAILED_PRECONDITION",
                f"model '{self.name}' version {self.version} has no signature '{name or DEFAULT_SIGNATURE}'; "
                f"it has: {', '.join(sorted(self.signatures)) or 'none'}",
            )
        return sig


def _signature_def_json(signature_def_map: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(
        signature_def_map, including_default_value_fields=True, preserving_proto_field_name=True
    )


def missing_parts(path: str) -> list[str]:
    """What a version directory lacks to be a loadable SavedModel (empty when complete)."""
    missing = []
    if not (os.path.isfile(os.path.join(path, "saved_model.pb"))
            or os.path.isfile(os.path.join(path, "saved_model.pbtxt"))):
        missing.append("saved_model.pb")
    if not os.path.isdir(os.path.join(path, "variables")):
        missing.append("variables/")
    return missing


def _read_signature_defs(path: str) -> Any:
    """The 'serve' meta graph's signature defs, as a SignatureDefMap."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    saved_model = saved_model_pb2.SavedModel()
    pb = os.path.join(path, "saved_model.pb")
    if os.path.isfile(pb):
        with open(pb, "rb") as f:
            saved_model.ParseFromString(f.read())
    else:
        with open(os.path.join(path, "saved_model.pbtxt"), encoding="utf-8") as f:
            text_format.Parse(f.read(), saved_model)
    graphs = [g for g in saved_model.meta_graphs if "serve" in g.meta_info_def.tags] or list(saved_model.meta_graphs)
    if not graphs:
        raise ValueError("saved_model.pb holds no meta graph")
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in graphs[0].signature_def.items():
        if key.startswith("__"):  # e.g. __saved_model_init_op: not a callable signature
            continue
        sig_map.signature_def[key].CopyFrom(sig)
    return sig_map


def _tensor_info(key: str, proto: Any) -> TensorInfo:
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    dtype = tf.dtypes.as_dtype(proto.dtype)
    np_dtype = np.dtype(object) if proto.dtype == DT_STRING else np.dtype(dtype.as_numpy_dtype)
    shape: tuple[int | None, ...] | None
    if proto.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(None if d.size < 0 else int(d.size) for d in proto.tensor_shape.dim)
    return TensorInfo(key, proto.dtype, types_pb2.DataType.Name(proto.dtype), np_dtype, shape)


def load_servable(name: str, version: int, path: str, warmup: bool = True) -> Servable:
    """Load ``path`` (a SavedModel directory). Raises on anything that makes it unservable."""
    import tensorflow as tf

    start = time.monotonic()
    sig_map = _read_signature_defs(path)
    loaded = tf.saved_model.load(path, tags=["serve"])
    signatures: dict[str, Signature] = {}
    for key, sig_def in sig_map.signature_def.items():
        function = loaded.signatures.get(key) if hasattr(loaded, "signatures") else None
        if function is None:
            log.warning("model %s version %s: signature '%s' has no restorable function; skipped", name, version, key)
            continue
        signatures[key] = Signature(
            key,
            sig_def.method_name or PREDICT_METHOD,
            {k: _tensor_info(k, v) for k, v in sig_def.inputs.items()},
            {k: _tensor_info(k, v) for k, v in sig_def.outputs.items()},
            function,
        )
    servable = Servable(name, version, path, loaded, signatures, sig_map)
    if warmup:
        _warm_up(servable)
    log.info("loaded model %s version %s from %s in %.2fs (signatures: %s)", name, version, path,
             time.monotonic() - start, ", ".join(sorted(signatures)) or "none")
    return servable


def _warm_up(servable: Servable) -> None:
    """Replay ``assets.extra/tf_serving_warmup_requests`` (PredictionLog TFRecords) as TF Serving does."""
    path = os.path.join(servable.path, WARMUP_FILE)
    if not os.path.isfile(path):
        return
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from penstock.serving import inference, tensor_proto

    count = 0
    for record in tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS):
        entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        kind = entry.WhichOneof("log_type")
        if kind == "predict_log":
            request = entry.predict_log.request
            sig = servable.signature(request.model_spec.signature_name)
            inputs = {k: tensor_proto.to_array(v, k) for k, v in request.inputs.items()}
            sig.validate(inputs)
            sig.run(inputs)
        elif kind in ("classify_log", "regress_log"):
            request = getattr(entry, kind).request
            sig = servable.signature(request.model_spec.signature_name)
            serialized = inference.serialized_examples_from_input(request.input)
            method = inference.classify_signature if kind == "classify_log" else inference.regress_signature
            plan = method(sig)
            sig.run(plan.inputs(serialized))
        else:
            raise ValueError(f"warmup record {count}: log type {kind!r} is not supported")
        count += 1
    log.info("model %s version %s: replayed %d warmup request(s)", servable.name, servable.version, count)
