"""User code of the TFX-style test pipeline, written as TFX users write it (only the imports are
penstock's): preprocessing_fn, a KerasTuner tuner_fn, and a run_fn that reads the tuned
HyperParameters with ``from_config``, opens its own MirroredStrategy and exports with
``tf.saved_model.save`` and a ``tft_layer``. One feature name has hyphens (``body-mass-g``), as
census data has."""

import json
import os

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow import keras
from tfx_bsl.public import tfxio

from penstock import tfx

FEATURE_KEYS = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body-mass-g"]
LABEL_KEY = "species"


def transformed_name(key):
    return key + "_xf"


def preprocessing_fn(inputs):
    outputs = {transformed_name(k): tft.scale_to_z_score(inputs[k]) for k in FEATURE_KEYS}
    outputs[transformed_name(LABEL_KEY)] = inputs[LABEL_KEY]
    return outputs


def _input_fn(file_pattern, data_accessor, tf_transform_output, batch_size):
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=transformed_name(LABEL_KEY)),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def _hyperparameters():
    hp = keras_tuner.HyperParameters()
    hp.Choice("learning_rate", [1e-2, 3e-3], default=1e-2)
    hp.Int("num_layers", 1, 2, default=1)
    return hp


def _make_model(hparams):
    """Two to three small dense layers over the four transformed measurements."""
    inputs = {transformed_name(f): keras.layers.Input(shape=(1,), name=transformed_name(f)) for f in FEATURE_KEYS}
    hidden = keras.layers.concatenate(list(inputs.values()))
    layers = [keras.layers.Dense(8, activation="relu") for _ in range(int(hparams.get("num_layers")))]
    for layer in [*layers, keras.layers.Dense(3)]:
        hidden = layer(hidden)
    model = keras.Model(inputs=list(inputs.values()), outputs=hidden)
    optimizer = keras.optimizers.Adam(hparams.get("learning_rate"))
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model


def tuner_fn(fn_args: tfx.components.FnArgs) -> tfx.components.TunerFnResult:
    tuner = keras_tuner.RandomSearch(
        _make_model, max_trials=4, hyperparameters=_hyperparameters(), allow_new_entries=False,
        objective=keras_tuner.Objective("val_sparse_categorical_accuracy", "max"),
        directory=fn_args.working_dir, project_name="penguin_tuning")
    transform_graph = tft.TFTransformOutput(fn_args.transform_graph_path)
    return tfx.components.TunerFnResult(tuner=tuner, fit_kwargs={
        "x": _input_fn(fn_args.train_files, fn_args.data_accessor, transform_graph, 20),
        "validation_data": _input_fn(fn_args.eval_files, fn_args.data_accessor, transform_graph, 10),
        "steps_per_epoch": fn_args.train_steps,
        "validation_steps": fn_args.eval_steps,
    })


def _signatures(model, tf_transform_output):
    model.tft_layer = tf_transform_output.transform_features_layer()

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_tf_examples_fn(serialized_tf_example):
        raw_feature_spec = tf_transform_output.raw_feature_spec()
        raw_feature_spec.pop(LABEL_KEY)
        transformed = model.tft_layer(tf.io.parse_example(serialized_tf_example, raw_feature_spec))
        return {"outputs": model(transformed)}

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def transform_features_fn(serialized_tf_example):
        raw_features = tf.io.parse_example(serialized_tf_example, tf_transform_output.raw_feature_spec())
        return model.tft_layer(raw_features)

    return {"serving_default": serve_tf_examples_fn, "transform_features": transform_features_fn}


def run_fn(fn_args: tfx.components.FnArgs):
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = _input_fn(fn_args.train_files, fn_args.data_accessor, tf_transform_output, 20)
    evaluation = _input_fn(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, 10)
    hparams = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters) if fn_args.hyperparameters \
        else _hyperparameters()
    with tf.distribute.MirroredStrategy().scope():
        model = _make_model(hparams)
    model.fit(train, steps_per_epoch=fn_args.train_steps, validation_data=evaluation,
              validation_steps=fn_args.eval_steps, verbose=0)
    with open(os.path.join(fn_args.model_run_dir, "hyperparameters_used.json"), "w") as f:
        json.dump(hparams.values, f)
    tf.saved_model.save(model, fn_args.serving_model_dir, signatures=_signatures(model, tf_transform_output))
