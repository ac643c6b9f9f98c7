"""User code of the census pipeline: raw features keep their hyphenated names (``education-num``,
``capital-gain``); the transform writes them under Python-friendly names, as a user would."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from penstock import DatasetOptions, FnArgs, export_serving_model

NUMERIC = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
CATEGORICAL = ["workclass", "marital-status", "sex", "race"]
LABEL_KEY = "income"


def transformed_name(key: str) -> str:
    return key.replace("-", "_")


def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
    outputs = {transformed_name(k): tft.scale_to_z_score(tf.cast(inputs[k], tf.float32)) for k in NUMERIC}
    for key in CATEGORICAL:
        index = tft.compute_and_apply_vocabulary(inputs[key], num_oov_buckets=1)
        outputs[transformed_name(key)] = tf.cast(index, tf.float32)
    outputs[LABEL_KEY] = tf.cast(tf.equal(inputs[LABEL_KEY], ">50K"), tf.int64)
    return outputs


def run_fn(fn_args: FnArgs) -> None:
    tf.random.set_seed(0)
    output = tft.TFTransformOutput(fn_args.transform_output)
    names = [transformed_name(k) for k in NUMERIC + CATEGORICAL]

    def dataset(files: list[str]) -> Any:
        assert fn_args.data_accessor is not None
        return fn_args.data_accessor.tf_dataset_factory(
            files, DatasetOptions(batch_size=64, label_key=LABEL_KEY, shuffle_seed=0),
            output.transformed_metadata.schema).repeat()

    inputs = {n: keras.layers.Input(shape=(1,), name=n) for n in names}
    x = keras.layers.concatenate([inputs[n] for n in names])
    x = keras.layers.Dense(16, activation="relu")(x)
    model = keras.Model(inputs=inputs, outputs=keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=[keras.metrics.AUC(name="auc")])
    model.fit(dataset(fn_args.train_files), steps_per_epoch=fn_args.train_steps or 100,
              validation_data=dataset(fn_args.eval_files), validation_steps=fn_args.eval_steps or 5, verbose=0)
    export_serving_model(model, output, fn_args.serving_model_dir, label_key=LABEL_KEY)
