"""run_fn of the warm-start tests: a tiny Keras model on feature ``x`` (tests/components/_model_fixtures
rows), warm-started from ``fn_args.base_model`` when there is one. It records the loss of the very
first training step (computed before that step's update) in ``<model_run_dir>/first_loss.json``."""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf
import tf_keras as keras

from penstock import DatasetOptions, FnArgs, load_base_weights

BATCH = 8


def build_model(hidden_units: int) -> keras.Model:
    x = keras.Input(shape=(1,), name="x", dtype=tf.float32)
    hidden = keras.layers.Dense(hidden_units, activation="tanh")(x)
    model = keras.Model({"x": x}, keras.layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=keras.losses.BinaryCrossentropy())
    return model


def dataset(fn_args: FnArgs, files: list[str]) -> Any:
    assert fn_args.data_accessor is not None
    data = fn_args.data_accessor.tf_dataset_factory(
        files, DatasetOptions(batch_size=BATCH, label_key="y", shuffle=False, num_epochs=None))
    return data.map(lambda features, label: ({"x": features["x"]}, tf.cast(label, tf.float32)))


class FirstLoss(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.value: float | None = None

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.value is None:
            self.value = float((logs or {})["loss"])


def run_fn(fn_args: FnArgs) -> None:
    tf.random.set_seed(0)
    model = build_model(int((fn_args.hyperparameters or {}).get("hidden_units", 4)))
    if fn_args.base_model:
        load_base_weights(model, fn_args.base_model)
    first = FirstLoss()
    model.fit(dataset(fn_args, fn_args.train_files), steps_per_epoch=fn_args.train_steps or 10, epochs=1,
              callbacks=[first], verbose=0)
    with open(os.path.join(str(fn_args.model_run_dir), "first_loss.json"), "w") as f:
        json.dump({"first_loss": first.value}, f)
    model.save(fn_args.serving_model_dir, save_format="tf")
