"""Penguin species classifier: the user code of the penguin example (Transform + Trainer).

Ported from TFX's ``penguin_utils_keras.py`` by changing imports only: ``preprocessing_fn``
z-scores the four measurements (means and variances come from the train split, frozen into the
transform graph); ``run_fn`` trains a small Keras DNN on the transformed features and exports it
with raw-feature serving signatures, so serving applies the very same transform.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from penstock import DatasetOptions, FnArgs, export_serving_model, load_base_weights

FEATURE_KEYS = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
LABEL_KEY = "species"
NUM_CLASSES = 3
TRAIN_BATCH_SIZE = 20
EVAL_BATCH_SIZE = 10


def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
    """z-score every measurement; pass the integer label through."""
    outputs = {key: tft.scale_to_z_score(inputs[key]) for key in FEATURE_KEYS}
    outputs[LABEL_KEY] = inputs[LABEL_KEY]
    return outputs


def _input_fn(file_pattern: list[str], fn_args: FnArgs, tf_transform_output: Any, batch_size: int) -> Any:
    assert fn_args.data_accessor is not None
    return fn_args.data_accessor.tf_dataset_factory(
        file_pattern,
        DatasetOptions(batch_size=batch_size, label_key=LABEL_KEY, shuffle_seed=0),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def build_keras_model(hidden_units: int = 16, learning_rate: float = 0.01) -> keras.Model:
    inputs = [keras.layers.Input(shape=(1,), name=key) for key in FEATURE_KEYS]
    x = keras.layers.concatenate(inputs)
    for _ in range(2):
        x = keras.layers.Dense(hidden_units, activation="relu")(x)
    outputs = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def run_fn(fn_args: FnArgs) -> None:
    """Train on the transformed train split, validate on eval, export for serving."""
    tf.random.set_seed(0)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = _input_fn(fn_args.train_files, fn_args, tf_transform_output, TRAIN_BATCH_SIZE)
    evaluation = _input_fn(fn_args.eval_files, fn_args, tf_transform_output, EVAL_BATCH_SIZE)
    hyperparameters = fn_args.hyperparameters or {}
    model = build_keras_model(
        hidden_units=int(hyperparameters.get("hidden_units", 16)),
        learning_rate=float(hyperparameters.get("learning_rate", 0.01)),
    )
    if fn_args.base_model:  # warm start (the pipeline's warm_start=True): begin from the base model's weights
        load_base_weights(model, fn_args.base_model)
    model.fit(
        train,
        steps_per_epoch=fn_args.train_steps or 200,
        validation_data=evaluation,
        validation_steps=fn_args.eval_steps or 10,
        callbacks=[keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")],
        verbose=0,
    )
    export_serving_model(model, tf_transform_output, fn_args.serving_model_dir, label_key=LABEL_KEY)
