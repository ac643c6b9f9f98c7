"""The Tuner benchmark's user module (bench/tfx/scenarios.py), written once for both systems: the
``tfx`` namespace is TFX's or penstock's by ``BENCH_API``. The penguin model and search space of
TFX's penguin example (learning rate x layers), 6 trials, a fixed seed."""

import os

import keras_tuner
import tensorflow_transform as tft
from tensorflow import keras
from tfx_bsl.public import tfxio

if os.environ.get("BENCH_API") == "tfx":
    from tfx import v1 as tfx
else:
    from penstock import tfx

FEATURES = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
LABEL = "species"


def preprocessing_fn(inputs):
    outputs = {f + "_xf": tft.scale_to_z_score(inputs[f]) for f in FEATURES}
    outputs[LABEL + "_xf"] = inputs[LABEL]
    return outputs


def _dataset(files, accessor, transform_output, batch_size):
    return accessor.tf_dataset_factory(
        files, tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=LABEL + "_xf"),
        transform_output.transformed_metadata.schema).repeat()


def _build(hp):
    inputs = [keras.layers.Input(shape=(1,), name=f + "_xf") for f in FEATURES]
    d = keras.layers.concatenate(inputs)
    for _ in range(int(hp.get("num_layers"))):
        d = keras.layers.Dense(8, activation="relu")(d)
    model = keras.Model(inputs=inputs, outputs=keras.layers.Dense(3)(d))
    model.compile(optimizer=keras.optimizers.Adam(hp.get("learning_rate")),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model


def tuner_fn(fn_args):
    hp = keras_tuner.HyperParameters()
    hp.Choice("learning_rate", [1e-2, 1e-3], default=1e-2)
    hp.Int("num_layers", 1, 3, default=2)
    tuner = keras_tuner.RandomSearch(_build, max_trials=6, hyperparameters=hp, allow_new_entries=False, seed=0,
                                     objective=keras_tuner.Objective("val_sparse_categorical_accuracy", "max"),
                                     directory=fn_args.working_dir, project_name="bench_tuning")
    transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    fit = {"steps_per_epoch": fn_args.train_steps, "validation_steps": fn_args.eval_steps}
    fit["x"], fit["validation_data"] = (_dataset(files, fn_args.data_accessor, transform_output, batch)
                                        for files, batch in ((fn_args.train_files, 20), (fn_args.eval_files, 10)))
    return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs=fit)
