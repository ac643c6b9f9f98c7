"""Chicago taxi "big tipper" classifier: the user code of the taxi example (Transform + Trainer).

In the spirit of TFX's ``taxi_utils_native_keras.py``: numeric features are z-scored, string and
integer categories (payment type, company, hour, day, month, community areas) get vocabularies
computed on the train split, coordinates are bucketized into quantiles, and missing values are
filled in. The label is 1 when the tip is more than 20% of the fare. ``run_fn`` trains a small
Keras DNN on the transformed features and exports raw-feature serving signatures.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from penstock import DatasetOptions, FnArgs, export_serving_model, load_base_weights

DENSE_FLOAT_FEATURES = ["trip_miles", "fare", "trip_seconds"]
BUCKET_FEATURES = ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"]
NUM_BUCKETS = 10
CATEGORICAL_FEATURES = [
    "payment_type", "company", "trip_start_hour", "trip_start_day", "trip_start_month",
    "pickup_community_area", "dropoff_community_area",
]
VOCAB_SIZE = 100
OOV_BUCKETS = 5
FARE_KEY = "fare"
RAW_LABEL_KEY = "tips"
LABEL_KEY = "big_tipper"


def transformed_name(key: str) -> str:
    return f"{key}_xf"


def _fill_in_missing(x: Any, default: Any) -> Any:
    """A dense rank-1 tensor: missing values (empty rows of a sparse feature) become ``default``."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(
            tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default_value=default
        )
    return tf.reshape(x, [-1])


def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
    outputs = {}
    for key in DENSE_FLOAT_FEATURES:
        outputs[transformed_name(key)] = tft.scale_to_z_score(_fill_in_missing(inputs[key], 0.0))
    for key in BUCKET_FEATURES:
        outputs[transformed_name(key)] = tft.bucketize(_fill_in_missing(inputs[key], 0.0), NUM_BUCKETS)
    for key in CATEGORICAL_FEATURES:
        value = inputs[key]
        default = "" if value.dtype == tf.string else tf.constant(-1, value.dtype)
        outputs[transformed_name(key)] = tft.compute_and_apply_vocabulary(
            _fill_in_missing(value, default), top_k=VOCAB_SIZE, num_oov_buckets=OOV_BUCKETS)
    fare = _fill_in_missing(inputs[FARE_KEY], 0.0)
    tips = _fill_in_missing(inputs[RAW_LABEL_KEY], 0.0)
    outputs[LABEL_KEY] = tf.cast(tf.greater(tips, fare * 0.2), tf.int64)
    return outputs


def _input_fn(file_pattern: list[str], fn_args: FnArgs, tf_transform_output: Any, batch_size: int) -> Any:
    assert fn_args.data_accessor is not None
    return fn_args.data_accessor.tf_dataset_factory(
        file_pattern,
        DatasetOptions(batch_size=batch_size, label_key=LABEL_KEY, shuffle_seed=0),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def build_keras_model(tf_transform_output: Any, hidden_units: int = 32, learning_rate: float = 0.003,
                      fixed_widths: bool = False) -> keras.Model:
    """The DNN. ``fixed_widths``: one-hot widths from the transform's settings (``VOCAB_SIZE`` +
    ``OOV_BUCKETS``, ``NUM_BUCKETS``) rather than from this span's vocabularies, so models
    trained on different spans have the same shapes and one can warm-start from another."""
    inputs, encoded = [], []
    for key in DENSE_FLOAT_FEATURES:
        layer = keras.layers.Input(shape=(), name=transformed_name(key), dtype=tf.float32)
        inputs.append(layer)
        encoded.append(keras.layers.Reshape((1,))(layer))
    for key in BUCKET_FEATURES + CATEGORICAL_FEATURES:
        name = transformed_name(key)
        layer = keras.layers.Input(shape=(), name=name, dtype=tf.int64)
        inputs.append(layer)
        if fixed_widths:
            buckets = NUM_BUCKETS if key in BUCKET_FEATURES else VOCAB_SIZE + OOV_BUCKETS
        else:
            buckets = tf_transform_output.num_buckets_for_transformed_feature(name)
        encoded.append(keras.layers.CategoryEncoding(num_tokens=buckets, output_mode="one_hot")(layer))
    x = keras.layers.concatenate(encoded)
    x = keras.layers.Dense(hidden_units, activation="relu")(x)
    x = keras.layers.Dense(hidden_units // 2, activation="relu")(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    model = keras.Model(inputs=inputs, outputs=output)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )
    return model


def run_fn(fn_args: FnArgs) -> None:
    tf.random.set_seed(0)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = _input_fn(fn_args.train_files, fn_args, tf_transform_output, 64)
    evaluation = _input_fn(fn_args.eval_files, fn_args, tf_transform_output, 64)
    hyperparameters = fn_args.hyperparameters or {}
    # Warm start (the pipeline's warm_start=True): the same shapes on every span, and the weights
    # of the base model (the latest blessed one) instead of a fresh initialization.
    model = build_keras_model(tf_transform_output, int(hyperparameters.get("hidden_units", 32)),
                              fixed_widths=bool((fn_args.custom_config or {}).get("fixed_widths")))
    if fn_args.base_model:
        load_base_weights(model, fn_args.base_model)
    model.fit(
        train,
        steps_per_epoch=fn_args.train_steps or 1000,
        validation_data=evaluation,
        validation_steps=fn_args.eval_steps or 20,
        callbacks=[keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")],
        verbose=0,
    )
    export_serving_model(model, tf_transform_output, fn_args.serving_model_dir, label_key=RAW_LABEL_KEY)
