"""One loaded SavedModel version, run the way TF Serving runs it: a TF1 session over the 'serve'
meta graph, fed and fetched by the tensor names in its SignatureDefs.

That is what makes TF1 exports (Estimator, ``tf.compat.v1`` Builder models, TF Serving's own test
models) and TF2 exports behave alike, and as in TF Serving: a signature input may be any tensor
of the graph (not only a placeholder), and a fed tensor's shape is not checked against the
signature's (``{"instances": [1.0, 2.0, 5.0]}`` to a ``[-1,1]`` input runs, as in TF Serving's
tutorial); a shape the graph cannot take is refused by the graph itself. Each (inputs, outputs)
combination gets a session callable, created on first use and reused, so a request pays only for
the run.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from penstock.serving import storage
from penstock.serving.errors import RequestError

log = logging.getLogger("penstock.serving")

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
INIT_OP_SIGNATURE = "__saved_model_init_op"
DT_STRING = 7
BATCHING_PARAMS_FILE = "batching_params.pbtxt"

Outputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class TensorInfo:
    """A signature input or output: its key, graph tensor name, dtype and (partial) shape."""

    key: str
    name: str  # graph tensor name ("x:0"); empty for sparse/composite encodings
    dtype: int  # tensorflow DataType enum
    dtype_name: str  # "DT_FLOAT"
    np_dtype: Any  # numpy dtype; object for strings; None when numpy has none (bfloat16, resource)
    shape: tuple[int | None, ...] | None  # None: unknown rank

    @property
    def is_string(self) -> bool:
        return self.dtype == DT_STRING


@dataclass(frozen=True)
class LoadOptions:
    """How versions are loaded (TF Serving's SessionBundleConfig, the parts penstock honours)."""

    tags: tuple[str, ...] = ("serve",)
    session_config: Any = None  # tensorflow ConfigProto, or None for TensorFlow's defaults
    method_name_check: bool = False  # --enable_signature_method_name_check
    lenient_example_signatures: bool = False  # penstock: classify/regress on one-string-input predict signatures


class Signature:
    """A signature of a loaded version; ``run`` feeds and fetches by signature keys."""

    def __init__(self, name: str, method_name: str, inputs: dict[str, TensorInfo],
                 outputs: dict[str, TensorInfo], session: Any) -> None:
        self.name = name
        self.method_name = method_name
        self.inputs = inputs
        self.outputs = outputs
        self._session = session
        self._callables: dict[tuple[tuple[str, ...], tuple[str, ...], int], Any] = {}
        self._lock = threading.Lock()
        self.last_run_seconds = float("inf")  # unknown until it has run once

    def describe_inputs(self) -> str:
        return ", ".join(f"{k} ({i.dtype_name})" for k, i in self.inputs.items()) or "none"

    def run(self, feeds: dict[str, np.ndarray], fetch: tuple[str, ...], timeout_ms: int = 0) -> Outputs:
        """Run the graph. TensorFlow's own errors keep their canonical code (a bad value the graph
        rejects is INVALID_ARGUMENT, a run past ``timeout_ms`` DEADLINE_EXCEEDED)."""
        import tensorflow as tf

        keys = tuple(feeds)
        call = self._callables.get((keys, fetch, timeout_ms))
        if call is None:
            call = self._make_callable(keys, fetch, timeout_ms)
        try:
            values = call(*(feeds[k] for k in keys))
        except tf.errors.OpError as e:
            raise RequestError(_code_name(e.error_code), _first_line(e.message)) from None
        except (TypeError, ValueError) as e:  # numpy -> tensor conversion of a value TF cannot take
            raise RequestError("INVALID_ARGUMENT", _first_line(str(e))) from None
        return dict(zip(fetch, values))

    def _make_callable(self, keys: tuple[str, ...], fetch: tuple[str, ...], timeout_ms: int) -> Any:
        from tensorflow.core.protobuf import config_pb2

        for key, info in [*((k, self.inputs[k]) for k in keys), *((k, self.outputs[k]) for k in fetch)]:
            if not info.name:
                raise RequestError("UNIMPLEMENTED", f"signature '{self.name}': tensor '{key}' is a sparse or "
                                                    "composite tensor, which the serving APIs cannot feed or fetch")
        options = config_pb2.CallableOptions()
        options.feed.extend(self.inputs[k].name for k in keys)
        options.fetch.extend(self.outputs[k].name for k in fetch)
        if timeout_ms > 0:
            options.run_options.timeout_in_ms = timeout_ms
        with self._lock:
            call = self._callables.get((keys, fetch, timeout_ms))
            if call is None:
                # private but stable since TF 1.x: the only way to give a callable RunOptions
                call = self._session._make_callable_from_options(options)
                self._callables[(keys, fetch, timeout_ms)] = call
        return call


def _code_name(code: int) -> str:
    from tensorflow.core.protobuf import error_codes_pb2

    try:
        return str(error_codes_pb2.Code.Name(code))
    except ValueError:
        return "UNKNOWN"


_TF_NOISE = ("Graph execution error", "Detected at node", "<stack traces unavailable>", "File ", "[[")


def _first_line(text: str) -> str:
    """The line of a TensorFlow error that says what is wrong (not the graph-node boilerplate)."""
    lines = [ln.strip() for ln in text.splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith(_TF_NOISE)]
    return (useful[0] if useful else text.strip())[:1000]


@dataclass(eq=False)
class Servable:
    """A loaded version of a model."""

    name: str
    version: int
    path: str
    signatures: dict[str, Signature]
    signature_def_map: Any  # tensorflow.serving.SignatureDefMap: what GetModelMetadata reports
    options: LoadOptions
    batching_params: Any = None  # BatchingParameters from the version's batching_params.pbtxt
    source_path: str = ""  # where the version lives when ``path`` is a local copy of it (an object store)
    _session: Any = field(default=None, repr=False)
    metadata_json: bytes | None = field(default=None, repr=False)  # the REST metadata body, made once
    _combined: dict[Any, Signature] = field(default_factory=dict, repr=False)

    def combined_signature(self, name: str, inputs: dict[str, TensorInfo], outputs: dict[str, TensorInfo]) -> Signature:
        """A signature made of other signatures' tensors (MultiInference fetches several at once)."""
        key = (tuple(sorted((k, i.name) for k, i in inputs.items())), tuple(sorted(outputs)))
        sig = self._combined.get(key)
        if sig is None:
            sig = self._combined.setdefault(key, Signature(name, "", inputs, outputs, self._session))
        return sig

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self.source_path:
            storage.release_local_version(self.source_path, self.path)


def _tensor_info(key: str, proto: Any) -> TensorInfo:
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    try:
        np_dtype: Any = np.dtype(object) if proto.dtype == DT_STRING else np.dtype(
            tf.dtypes.as_dtype(proto.dtype).as_numpy_dtype)
    except (TypeError, ValueError):
        np_dtype = None
    shape: tuple[int | None, ...] | None
    if proto.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(None if d.size < 0 else int(d.size) for d in proto.tensor_shape.dim)
    dtype_name = types_pb2.DataType.Name(proto.dtype) if proto.dtype in types_pb2.DataType.values() else str(proto.dtype)
    return TensorInfo(key, proto.name, proto.dtype, dtype_name, np_dtype, shape)


def load_servable(name: str, version: int, path: str, options: LoadOptions | None = None) -> Servable:
    """Load ``path`` (a SavedModel directory). Raises on anything that makes it unservable (the
    caller keeps the version out of service). Warmup is the caller's (penstock.serving.warmup)."""
    import tensorflow as tf
    from tensorflow.python.util import deprecation
    from tensorflow_serving.apis import get_model_metadata_pb2

    options = options or LoadOptions()
    start = time.monotonic()
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=options.session_config)
    try:
        with graph.as_default(), deprecation.silence():
            meta_graph = tf.compat.v1.saved_model.loader.load(session, list(options.tags), path)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        signatures: dict[str, Signature] = {}
        for key, sig_def in meta_graph.signature_def.items():
            sig_map.signature_def[key].CopyFrom(sig_def)
            if key == INIT_OP_SIGNATURE:
                continue  # TF2's initializer: reported in metadata, never callable
            signatures[key] = Signature(
                key, sig_def.method_name,
                {k: _tensor_info(k, v) for k, v in sorted(sig_def.inputs.items())},
                {k: _tensor_info(k, v) for k, v in sorted(sig_def.outputs.items())},
                session,
            )
        servable = Servable(name, version, path, signatures, sig_map, options,
                            batching_params=read_batching_params(path), _session=session)
    except BaseException:
        session.close()
        raise
    log.info("loaded model %s version %s from %s in %.2fs (signatures: %s)", name, version, path,
             time.monotonic() - start, ", ".join(sorted(signatures)) or "none")
    return servable


def read_batching_params(version_path: str) -> Any:
    """The version's own ``batching_params.pbtxt`` (TF Serving's per-model batching file), or None."""
    path = os.path.join(version_path, BATCHING_PARAMS_FILE)
    if not storage.exists(path):
        return None
    from penstock.serving.config import parse_text_proto

    return parse_text_proto(storage.read_file(path).decode("utf-8", "replace"),
                            "tensorflow.serving.BatchingParameters", path)
