"""Serving signatures that take RAW features and apply the frozen transform graph inside.

Training/serving skew creeps in when serving re-implements preprocessing. Here the model is
exported with the tf.Transform graph attached (``model.tft_layer``, a tracked Keras layer, never
a ``Lambda`` capturing modules, which cannot be saved), so every signature starts from raw
features:

- ``serving_default``: ``examples``, a batch of serialized tf.Example (TF Serving's convention),
  label excluded;
- ``serving_raw``: one named tensor per raw feature (label excluded). A fixed-length feature
  takes ``[batch, *shape]``; a variable-length one ``[batch, n]`` with the same ``n`` values per
  row (rows with missing values: use ``serving_default``);
- ``transform_features``: serialized tf.Example (label included) -> transformed features, for
  evaluation tools that need the transformed label.

One line in a ``run_fn``::

    export_serving_model(model, fn_args.transform_output, fn_args.serving_model_dir, label_key="species")
"""

from __future__ import annotations

from typing import Any

SERVING_DEFAULT = "serving_default"
SERVING_RAW = "serving_raw"
TRANSFORM_FEATURES = "transform_features"


def _transform_output(tf_transform_output: Any) -> Any:
    import tensorflow_transform as tft

    if isinstance(tf_transform_output, str):
        return tft.TFTransformOutput(tf_transform_output)
    return tf_transform_output


def _output_dict(model: Any, outputs: Any) -> dict[str, Any]:
    if isinstance(outputs, dict):
        return outputs
    names = list(getattr(model, "output_names", None) or [])
    if isinstance(outputs, (list, tuple)):
        if len(names) != len(outputs):
            names = [f"output_{i}" for i in range(len(outputs))]
        return dict(zip(names, outputs))
    return {names[0] if len(names) == 1 else "outputs": outputs}


def _raw_input_spec(name: str, spec: Any) -> Any:
    import tensorflow as tf

    if isinstance(spec, tf.io.FixedLenFeature):
        return tf.TensorSpec([None, *spec.shape], spec.dtype, name=name)
    if isinstance(spec, tf.io.VarLenFeature):
        return tf.TensorSpec([None, None], spec.dtype, name=name)
    raise TypeError(f"raw feature {name!r} has a {type(spec).__name__}; serving_raw supports "
                    "FixedLenFeature and VarLenFeature")


def _as_parsed(value: Any, spec: Any) -> Any:
    """A serving_raw tensor in the form ``tf.io.parse_example`` would have produced."""
    import tensorflow as tf

    if isinstance(spec, tf.io.VarLenFeature):
        return tf.RaggedTensor.from_tensor(value).to_sparse()
    return value


def _dense(value: Any) -> Any:
    """Signatures return plain tensors: sparse and ragged outputs are densified."""
    import tensorflow as tf

    if isinstance(value, tf.SparseTensor):
        return tf.sparse.to_dense(value)
    if isinstance(value, tf.RaggedTensor):
        return value.to_tensor()
    return value


def make_serving_signatures(model: Any, tf_transform_output: Any, label_key: str | list[str] | None = None,
                            ) -> dict[str, Any]:
    """Signatures (concrete functions) taking raw features, with the transform graph inside.

    ``tf_transform_output``: a ``tft.TFTransformOutput`` or its directory
    (``fn_args.transform_output``). Attaches the transform layer to ``model`` as ``tft_layer``.
    """
    import tensorflow as tf

    tft_output = _transform_output(tf_transform_output)
    model.tft_layer = tft_output.transform_features_layer()
    full_spec = dict(tft_output.raw_feature_spec())
    labels = [label_key] if isinstance(label_key, str) else list(label_key or [])
    missing = [k for k in labels if k not in full_spec]
    if missing:
        raise ValueError(f"label_key {missing} is not a raw feature; raw features: {sorted(full_spec)}")
    serving_spec = {k: v for k, v in full_spec.items() if k not in labels}

    def predict(raw_features: dict[str, Any]) -> dict[str, Any]:
        transformed = model.tft_layer(raw_features)
        return _output_dict(model, model(transformed))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples: Any) -> dict[str, Any]:
        return predict(tf.io.parse_example(examples, serving_spec))

    raw_specs = {name: _raw_input_spec(name, spec) for name, spec in serving_spec.items()}

    @tf.function(input_signature=[raw_specs])
    def serve_raw(features: dict[str, Any]) -> dict[str, Any]:
        return predict({name: _as_parsed(features[name], serving_spec[name]) for name in serving_spec})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(examples: Any) -> dict[str, Any]:
        transformed = model.tft_layer(tf.io.parse_example(examples, full_spec))
        return {name: _dense(value) for name, value in transformed.items()}

    return {
        SERVING_DEFAULT: serve_examples.get_concrete_function(),
        SERVING_RAW: serve_raw.get_concrete_function(),
        TRANSFORM_FEATURES: transform_features.get_concrete_function(),
    }


def export_serving_model(model: Any, tf_transform_output: Any, serving_model_dir: str,
                         label_key: str | list[str] | None = None) -> str:
    """Save ``model`` as a SavedModel whose signatures take raw features (see module doc)."""
    signatures = make_serving_signatures(model, tf_transform_output, label_key)
    model.save(serving_model_dir, save_format="tf", signatures=signatures)
    return serving_model_dir
