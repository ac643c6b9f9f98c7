"""The Trainer's training/serving skew check, run by penstock after every ``run_fn``.

Transform keeps a sample of eval rows as pairs (raw tf.Example, the same row transformed by
Beam). For each pair penstock computes

(a) the trained Keras model on the Beam-transformed features, i.e. what training saw, and
(b) the exported ``serving_default`` signature on the raw serialized example (and the
    ``serving_raw`` signature on the raw tensors, when exported), i.e. what serving will do,

and fails the Trainer when any prediction differs by more than the tolerance, naming the rows.
A serving path that skips or re-implements the transform cannot pass.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from penstock.errors import ExecutionError

SERVING_DEFAULT = "serving_default"
SERVING_RAW = "serving_raw"


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


def _load_keras_model(component_id: str, serving_dir: str) -> Any:
    import tf_keras

    try:
        return tf_keras.models.load_model(serving_dir, compile=False)
    except Exception as e:
        raise ExecutionError(
            component_id,
            f"skew check: the exported model in {serving_dir} does not load as a Keras model "
            f"({type(e).__name__}: {e}); export a tf_keras model (e.g. with "
            "penstock.components.trainer.export_serving_model) or set skew_check=False",
        ) from e


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
    import numpy as np
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
    model = _load_keras_model(component_id, serving_dir)
    expected = _flat_outputs(model(_model_inputs(model, transformed_features), training=False))

    loaded = tf.saved_model.load(serving_dir)
    signatures = dict(loaded.signatures)
    if SERVING_DEFAULT not in signatures:
        raise ExecutionError(
            component_id,
            f"skew check: the model in {serving_dir} has no {SERVING_DEFAULT!r} signature taking "
            f"serialized tf.Examples (it has {sorted(signatures) or 'none'}); export it with "
            "penstock.components.trainer.export_serving_model",
        )
    checked: list[str] = []
    worst = 0.0
    for name in (SERVING_DEFAULT, SERVING_RAW):
        signature = signatures.get(name)
        if signature is None:
            continue
        actual = _flat_outputs(_call_signature(component_id, name, signature, raw, tft_output))
        diffs, output = _row_diffs(component_id, expected, actual, name, rows)
        bad = np.flatnonzero(diffs > tolerance)
        if bad.size:
            listed = ", ".join(str(i) for i in bad[:20]) + (" ..." if bad.size > 20 else "")
            raise ExecutionError(
                component_id,
                f"training/serving skew: signature {name!r} disagrees with the model on the "
                f"transformed features for {bad.size} of {rows} eval rows (rows {listed}); "
                f"max |difference| {float(diffs.max()):.6g} on output {output!r} > tolerance "
                f"{tolerance:g}. Row {int(bad[0])} raw features: {_describe_raw(raw[int(bad[0])])}. "
                "The serving signature must apply the transform graph to raw features "
                "(use penstock.components.trainer.export_serving_model)",
            )
        worst = max(worst, float(diffs.max(initial=0.0)))
        checked.append(name)
    return SkewReport(rows=rows, max_abs_diff=worst, signatures=checked)


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
        parsed = tf.io.parse_example(tf.constant(raw), {k: raw_spec[k] for k in inputs if k in raw_spec})
        if all(not isinstance(v, tf.SparseTensor) for v in parsed.values()):
            return signature(**{k: parsed[k] for k in inputs})
        # Variable-length features are passed row by row (see serving_raw's contract).
        results = []
        for i in range(len(raw)):
            row = tf.io.parse_example(tf.constant(raw[i:i + 1]), {k: raw_spec[k] for k in inputs})
            results.append(signature(**{
                k: tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v for k, v in row.items()
            }))
        return {key: tf.concat([r[key] for r in results], axis=0) for key in results[0]}
    except ExecutionError:
        raise
    except Exception as e:
        raise ExecutionError(component_id, f"skew check: calling signature {name!r} on raw eval rows "
                             f"failed: {type(e).__name__}: {e}") from e
