"""Small taxi-like SavedModels in TF Serving's layout, for serving tests and the serving benchmark.

The model takes five taxi-ish features (three floats, two strings) and answers "will there be a
tip". It exports four signatures so every serving API has something real to call:

- ``serving_default`` (predict): serialized tf.Example ``examples`` -> ``outputs`` (probability),
  as a TFX Trainer exports it;
- ``predict_raw`` (predict): the raw named tensors -> ``probability`` and ``class_id``;
- ``classify`` (method ``tensorflow/serving/classify``): ``inputs`` examples -> ``classes``, ``scores``;
- ``regress`` (method ``tensorflow/serving/regress``): ``inputs`` examples -> ``outputs``.

TF2's saver always writes method ``tensorflow/serving/predict``; the classify/regress method names
are set afterwards in saved_model.pb, so real TF Serving accepts these signatures as well.
"""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

FLOAT_FEATURES = ("trip_miles", "trip_seconds", "fare")
STRING_FEATURES = ("payment_type", "company")
PAYMENT_TYPES = ["Cash", "Credit Card", "No Charge", "Dispute"]
COMPANIES = ["Flash Cab", "Taxi Affiliation Services", "Sun Taxi"]


def build_taxi_like_saved_model(export_dir: str, seed: int = 0) -> str:
    """Build a tiny tf_keras model and export it to ``export_dir`` with the four signatures."""
    import tensorflow as tf
    import tf_keras as keras

    tf.random.set_seed(seed)
    inputs = {name: keras.Input(shape=(1,), name=name, dtype=tf.float32) for name in FLOAT_FEATURES}
    inputs.update({name: keras.Input(shape=(1,), name=name, dtype=tf.string) for name in STRING_FEATURES})
    encoded = [keras.layers.Normalization(mean=5.0, variance=25.0)(inputs[name]) for name in FLOAT_FEATURES]
    for name, vocab in (("payment_type", PAYMENT_TYPES), ("company", COMPANIES)):
        encoded.append(keras.layers.StringLookup(vocabulary=vocab, output_mode="one_hot")(inputs[name]))
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()(encoded))
    output = keras.layers.Dense(1, activation="sigmoid")(hidden)
    model = keras.Model(inputs=inputs, outputs=output)
    # Untrained weights are enough: tests compare answers across APIs and versions, not accuracy.

    feature_spec = {name: tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]) for name in FLOAT_FEATURES}
    feature_spec.update({name: tf.io.FixedLenFeature([1], tf.string, default_value=[""]) for name in STRING_FEATURES})

    def probability_from_examples(serialized: tf.Tensor) -> tf.Tensor:
        features = tf.io.parse_example(serialized, feature_spec)
        return tf.reshape(model(features), [-1])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": probability_from_examples(examples)}

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.float32, name=name) for name in FLOAT_FEATURES]
        + [tf.TensorSpec([None], tf.string, name=name) for name in STRING_FEATURES]
    )
    def serve_raw(trip_miles, trip_seconds, fare, payment_type, company):  # type: ignore[no-untyped-def]
        features = {
            "trip_miles": trip_miles,
            "trip_seconds": trip_seconds,
            "fare": fare,
            "payment_type": payment_type,
            "company": company,
        }
        prob = tf.reshape(model({k: tf.expand_dims(v, -1) for k, v in features.items()}), [-1])
        return {"probability": prob, "class_id": tf.cast(prob > 0.5, tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        prob = probability_from_examples(inputs)
        batch = tf.shape(prob)[0]
        return {
            "classes": tf.tile(tf.constant([["no_tip", "tip"]]), [batch, 1]),
            "scores": tf.stack([1.0 - prob, prob], axis=1),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": probability_from_examples(inputs)}

    signatures = {
        "serving_default": serve_examples,
        "predict_raw": serve_raw,
        "classify": classify,
        "regress": regress,
    }
    model.save(export_dir, save_format="tf", signatures=signatures)
    _set_method_names(
        export_dir, {"classify": "tensorflow/serving/classify", "regress": "tensorflow/serving/regress"}
    )
    return export_dir


def _set_method_names(export_dir: str, method_by_signature: dict[str, str]) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for name, method in method_by_signature.items():
            meta_graph.signature_def[name].method_name = method
    with open(path, "wb") as f:
        f.write(saved_model.SerializeToString())


def push_version(template_dir: str, base_path: str, version: int) -> str:
    """Copy a SavedModel into ``<base_path>/<version>`` atomically (temp dir + rename), as the Pusher does."""
    os.makedirs(base_path, exist_ok=True)
    final = os.path.join(base_path, str(version))
    staging = os.path.join(base_path, f".tmp-{version}")
    shutil.copytree(template_dir, staging)
    os.rename(staging, final)
    return final


def make_example(
    trip_miles: float = 3.0,
    trip_seconds: float = 600.0,
    fare: float = 12.5,
    payment_type: str = "Credit Card",
    company: str = "Flash Cab",
) -> bytes:
    """One serialized tf.Example with the model's features."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in (("trip_miles", trip_miles), ("trip_seconds", trip_seconds), ("fare", fare)):
        example.features.feature[name].float_list.value.append(value)
    for name, text in (("payment_type", payment_type), ("company", company)):
        example.features.feature[name].bytes_list.value.append(text.encode())
    return example.SerializeToString()


def raw_instance(i: int = 0) -> dict[str, object]:
    """One row for ``predict_raw`` in TF Serving's JSON row format."""
    return {
        "trip_miles": 1.0 + i,
        "trip_seconds": 300.0 + 10 * i,
        "fare": 8.0 + i,
        "payment_type": PAYMENT_TYPES[i % len(PAYMENT_TYPES)],
        "company": COMPANIES[i % len(COMPANIES)],
    }
