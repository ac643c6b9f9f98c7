"""The Trainer's training/serving skew check, run by penstock after every ``run_fn``.

Transform keeps a sample of eval rows as pairs (raw tf.Example, the same row transformed by
Beam). For each pair penstock computes

(a) the trained model on the Beam-transformed features, i.e. what training saw, and
(b) the exported ``serving_default`` signature on the raw serialized example (and the
    ``serving_raw`` signature on the raw tensors, when exported), i.e. what serving will do,

and fails the Trainer when any prediction differs by more than the tolerance, naming the rows.
A serving path that skips or re-implements the transform cannot pass.

Any SavedModel whose signatures take raw features qualifies, however it was exported: (a) calls
the Keras model when the SavedModel holds one (``model.save``), else the restored model object
(``tf.saved_model.save(model, ..., signatures=...)``, TFX's way, with the transform layer
tracked as ``model.tft_layer``). A ``transform_features`` signature (raw serialized examples in,
transformed features out) is checked against Beam's features too. Signature arguments are
matched to raw features by their tensor names, which keep names such as ``capital-gain`` that
TensorFlow rewrites in Python argument names.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from penstock.errors import ExecutionError

SERVING_DEFAULT = "serving_default"
SERVING_RAW = "serving_raw"
TRANSFORM_FEATURES = "transform_features"


@dataclasses.dataclass
class SkewReport:
    rows: int
    max_abs_diff: float
    signatures: list[str]


def read_sample(transform_graph_uri: str, limit: int) -> tuple[list[bytes], list[bytes]]:
    """(raw serialized examples, transformed serialized examples), pairwise."""
    import tensorflow as tf

    from penstock.storage import filesystem, layout

    path = filesystem.join(transform_graph_uri, layout.SKEW_SAMPLE_DIR, layout.SKEW_SAMPLE_FILE)
    raw: list[bytes] = []
    transformed: list[bytes] = []
    if not filesystem.exists(path):
        return raw, transformed
    for record in tf.data.TFRecordDataset(path, compression_type="GZIP").take(limit):
        example = tf.train.Example.FromString(record.numpy())
        raw.append(example.features.feature["raw"].bytes_list.value[0])
        transformed.append(example.features.feature["transformed"].bytes_list.value[0])
    return raw, transformed


def _flat_outputs(outputs: Any) -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf

    if isinstance(outputs, dict):
        items = sorted(outputs.items())
    elif isinstance(outputs, (list, tuple)):
        items = [(f"output_{i}", o) for i, o in enumerate(outputs)]
    else:
        items = [("output", outputs)]
    flat = {}
    for name, value in items:
        if isinstance(value, tf.SparseTensor):
            value = tf.sparse.to_dense(value)
        elif isinstance(value, tf.RaggedTensor):
            value = value.to_tensor()
        flat[name] = np.asarray(value, dtype=np.float64)
    return flat


def _row_diffs(component_id: str, expected: dict[str, Any], actual: dict[str, Any], signature: str,
               rows: int) -> tuple[Any, str]:
    """Per-row max |expected - actual| over all outputs, matching outputs by name or position."""
    import numpy as np

    if set(expected) != set(actual):
        if len(expected) != len(actual):
            raise ExecutionError(
                component_id,
                f"skew check: signature {signature!r} returns outputs {sorted(actual)} but the model "
                f"returns {sorted(expected)}; they cannot be compared",
            )
        pairs = list(zip(expected.values(), actual.values()))  # both sorted by name
    else:
        pairs = [(expected[k], actual[k]) for k in sorted(expected)]
    diffs = np.zeros(rows)
    worst_output = ""
    for (e, a), name in zip(pairs, sorted(actual)):
        if e.shape != a.shape:
            raise ExecutionError(
                component_id,
                f"skew check: signature {signature!r} output {name!r} has shape {a.shape}, "
                f"the model's has {e.shape}",
            )
        per_row = np.abs(e - a).reshape(rows, -1).max(axis=1) if e.size else np.zeros(rows)
        per_row = np.where(np.isnan(per_row), np.inf, per_row)
        if per_row.max(initial=0) >= diffs.max(initial=0):
            worst_output = name
        diffs = np.maximum(diffs, per_row)
    return diffs, worst_output


def _describe_raw(serialized: bytes, limit: int = 8) -> str:
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    shown = []
    for name in sorted(example.features.feature)[:limit]:
        feature = example.features.feature[name]
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value) if kind else []
        shown.append(f"{name}={values[0] if len(values) == 1 else values}")
    return "{" + ", ".join(shown) + "}"


def _keras_reference(serving_dir: str, features: dict[str, Any]) -> Any:
    """The Keras model's outputs on ``features`` when the SavedModel holds a Keras model
    (``model.save``), else None."""
    import tf_keras

    from penstock.storage import filesystem

    if not filesystem.exists(filesystem.join(serving_dir, "keras_metadata.pb")):
        return None
    try:
        model = tf_keras.models.load_model(serving_dir, compile=False)
    except Exception:  # a SavedModel Keras cannot rebuild: the restored object may still answer
        return None
    return model(_model_inputs(model, features), training=False)


def _restored_reference(loaded: Any, features: dict[str, Any]) -> Any:
    """The restored model object's outputs on ``features`` (a model saved with
    ``tf.saved_model.save`` keeps the call traces its training and signatures made), or None."""
    import tensorflow as tf

    if not callable(loaded):
        return None
    call = loaded.__call__
    for concrete in getattr(call, "concrete_functions", None) or []:
        args, kwargs = concrete.structured_input_signature
        if not args:
            continue
        structure = args[0]
        names = _input_names(structure)
        if names is None or not all(n in features for n in names):
            continue
        specs = structure if isinstance(structure, dict) else dict(zip(names, tf.nest.flatten(structure)))
        conformed = {n: _conform(features[n], specs[n]) for n in names}
        inputs = (conformed if isinstance(structure, dict)
                  else tf.nest.pack_sequence_as(structure, [conformed[n] for n in names]))
        try:
            return call(inputs, **({"training": False} if "training" in kwargs else {}))
        except (TypeError, ValueError):
            continue
    return None


def _conform(value: Any, spec: Any) -> Any:
    """A feature as a traced call takes it: the dtype and rank of its Keras Input (a live Keras
    model casts and expands by itself; its restored trace does not)."""
    import tensorflow as tf

    if isinstance(value, tf.SparseTensor):
        value = tf.sparse.to_dense(value)
    if value.dtype != spec.dtype:
        value = tf.cast(value, spec.dtype)
    if spec.shape.rank is not None and value.shape.rank == spec.shape.rank - 1:
        value = tf.expand_dims(value, -1)
    return value


def _input_names(structure: Any) -> list[str] | None:
    """Feature names a traced call takes: dict keys, or the tensor names of a list of inputs."""
    import tensorflow as tf

    if isinstance(structure, dict):
        return [str(k) for k in structure]
    specs = tf.nest.flatten(structure)
    names = [getattr(s, "name", None) for s in specs]
    return names if all(names) else None  # type: ignore[return-value]


def _model_inputs(model: Any, features: dict[str, Any]) -> Any:
    names = list(getattr(model, "input_names", None) or [])
    if names and all(n in features for n in names):
        return {n: features[n] for n in names}
    return features


def check_skew(component_id: str, serving_dir: str, transform_graph_uri: str, *, max_rows: int = 200,
               tolerance: float = 1e-6, log: Any = None) -> SkewReport | None:
    """Compare the model on Beam-transformed features with the raw-feature serving signatures.

    Returns None when Transform kept no sample (nothing to compare); raises ExecutionError on skew.
    """
    import tensorflow as tf
    import tensorflow_transform as tft

    raw, transformed = read_sample(transform_graph_uri, max_rows)
    if not raw:
        if log:
            log.warning("skew check skipped: the transform graph holds no eval sample")
        return None
    rows = len(raw)
    tft_output = tft.TFTransformOutput(transform_graph_uri)
    transformed_features = tf.io.parse_example(tf.constant(transformed), tft_output.transformed_feature_spec())
    loaded = tf.saved_model.load(serving_dir)
    signatures = dict(loaded.signatures)
    if SERVING_DEFAULT not in signatures:
        raise ExecutionError(
            component_id,
            f"skew check: the model in {serving_dir} has no {SERVING_DEFAULT!r} signature taking "
            f"serialized tf.Examples (it has {sorted(signatures) or 'none'}); export it with "
            "penstock.components.trainer.export_serving_model",
        )
    reference = _keras_reference(serving_dir, transformed_features)
    if reference is None:
        reference = _restored_reference(loaded, transformed_features)
    checked: list[str] = []
    worst = 0.0
    if reference is not None:
        expected = _flat_outputs(reference)
        for name in (SERVING_DEFAULT, SERVING_RAW):
            signature = signatures.get(name)
            if signature is None:
                continue
            actual = _flat_outputs(_call_signature(component_id, name, signature, raw, tft_output))
            worst = max(worst, _compare(component_id, name, expected, actual, raw, tolerance, "the model on"))
            checked.append(name)
    if TRANSFORM_FEATURES in signatures:
        worst = max(worst, _check_transform(component_id, signatures[TRANSFORM_FEATURES], raw,
                                            transformed_features, tolerance))
        checked.append(TRANSFORM_FEATURES)
    if not checked:
        raise ExecutionError(
            component_id,
            f"skew check: cannot call the model in {serving_dir} on transformed features (it is no Keras "
            f"model and its restored call takes none of {sorted(transformed_features)}) and it has no "
            f"{TRANSFORM_FEATURES!r} signature to check the transform it serves with; export with "
            "penstock.components.trainer.export_serving_model, add a transform_features signature, or set "
            "skew_check=False",
        )
    return SkewReport(rows=rows, max_abs_diff=worst, signatures=checked)


def _compare(component_id: str, name: str, expected: dict[str, Any], actual: dict[str, Any], raw: list[bytes],
             tolerance: float, what: str) -> float:
    """Largest difference between what signature ``name`` returned and the reference; raises on skew."""
    import numpy as np

    rows = len(raw)
    diffs, output = _row_diffs(component_id, expected, actual, name, rows)
    bad = np.flatnonzero(diffs > tolerance)
    if bad.size:
        listed = ", ".join(str(i) for i in bad[:20]) + (" ..." if bad.size > 20 else "")
        raise ExecutionError(
            component_id,
            f"training/serving skew: signature {name!r} disagrees with {what} the transformed features for "
            f"{bad.size} of {rows} eval rows (rows {listed}); max |difference| {float(diffs.max()):.6g} on "
            f"output {output!r} > tolerance {tolerance:g}. Row {int(bad[0])} raw features: "
            f"{_describe_raw(raw[int(bad[0])])}. The serving signature must apply the transform graph to "
            "raw features (use penstock.components.trainer.export_serving_model)",
        )
    return float(diffs.max(initial=0.0))


def _check_transform(component_id: str, signature: Any, raw: list[bytes], beam_features: dict[str, Any],
                     tolerance: float) -> float:
    """``transform_features`` on the raw rows must give Beam's transformed features."""
    import numpy as np
    import tensorflow as tf

    inputs = signature.structured_input_signature[1]
    if len(inputs) != 1 or next(iter(inputs.values())).dtype != tf.string:
        return 0.0  # some other contract: not a transform of serialized examples
    try:
        served = signature(**{next(iter(inputs)): tf.constant(raw)})
    except Exception as e:
        raise ExecutionError(component_id, f"skew check: calling signature {TRANSFORM_FEATURES!r} on raw eval "
                             f"rows failed: {type(e).__name__}: {e}") from e
    expected, actual = {}, {}
    for key, value in served.items():
        beam = beam_features.get(key)
        if beam is None or value.dtype == tf.string:
            continue
        dense_beam = tf.sparse.to_dense(beam) if isinstance(beam, tf.SparseTensor) else beam
        served_rows = np.asarray(value, dtype=np.float64).reshape(len(raw), -1)
        beam_rows = np.asarray(dense_beam, dtype=np.float64).reshape(len(raw), -1)
        if served_rows.shape == beam_rows.shape:
            expected[key], actual[key] = beam_rows, served_rows
    if not expected:
        return 0.0
    return _compare(component_id, TRANSFORM_FEATURES, expected, actual, raw, tolerance, "Beam's transform of")


def _call_signature(component_id: str, name: str, signature: Any, raw: list[bytes], tft_output: Any) -> Any:
    import tensorflow as tf

    inputs = signature.structured_input_signature[1]
    try:
        if name == SERVING_DEFAULT:
            if len(inputs) != 1 or next(iter(inputs.values())).dtype != tf.string:
                raise ExecutionError(
                    component_id,
                    f"skew check: {name!r} must take one string tensor of serialized tf.Examples, "
                    f"it takes {sorted(inputs)}",
                )
            return signature(**{next(iter(inputs)): tf.constant(raw)})
        raw_spec = tft_output.raw_feature_spec()
        # TensorFlow rewrites argument names that are no Python identifiers ("capital-gain" ->
        # "capital_gain"); the tensor name keeps the feature's own.
        names = {arg: spec.name if spec.name in raw_spec else arg for arg, spec in inputs.items()}
        missing = sorted(n for n in names.values() if n not in raw_spec)
        if missing:
            raise ExecutionError(component_id, f"skew check: signature {name!r} takes {missing}, which are no "
                                 f"raw features (raw features: {sorted(raw_spec)})")
        wanted = {n: raw_spec[n] for n in names.values()}
        parsed = tf.io.parse_example(tf.constant(raw), wanted)
        if all(not isinstance(v, tf.SparseTensor) for v in parsed.values()):
            return signature(**{arg: parsed[n] for arg, n in names.items()})
        # Variable-length features are passed row by row (see serving_raw's contract).
        results = []
        for i in range(len(raw)):
            row = tf.io.parse_example(tf.constant(raw[i:i + 1]), wanted)
            results.append(signature(**{
                arg: tf.sparse.to_dense(row[n]) if isinstance(row[n], tf.SparseTensor) else row[n]
                for arg, n in names.items()
            }))
        return {key: tf.concat([r[key] for r in results], axis=0) for key in results[0]}
    except ExecutionError:
        raise
    except Exception as e:
        raise ExecutionError(component_id, f"skew check: calling signature {name!r} on raw eval rows "
                             f"failed: {type(e).__name__}: {e}") from e
