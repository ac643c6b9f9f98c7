"""A hand-checkable binary classifier and its eval data, in TFX's on-disk layout.

The model is a tf_keras ``Dense(1, sigmoid)`` over one float feature ``x`` whose weights are set,
not trained: ``p = sigmoid(slope * x)``. With ``slope > 0`` it predicts class 1 exactly when
``x > 0``; with ``slope < 0`` it predicts the opposite. Its SavedModel's ``serving_default``
signature takes serialized tf.Example (``examples``), as a TFX Trainer exports it.

The eval data (``EVAL_ROWS``) has a label ``y`` and a slice feature ``group``; the good model
(slope 10) is right on 3 of 4 ``a`` rows and 2 of 4 ``b`` rows, so accuracy is 0.75 on
``group=a``, 0.5 on ``group=b`` and 0.625 overall, and the bad model (slope -10) gets
0.25 / 0.5 / 0.375.
"""

from __future__ import annotations

import itertools
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

# (x, y, group): the good model predicts 1 iff x > 0.
EVAL_ROWS: list[tuple[float, int, str]] = [
    (1.0, 1, "a"), (2.0, 1, "a"), (-1.0, 0, "a"), (-2.0, 1, "a"),   # a: 3/4 right
    (1.5, 1, "b"), (-1.5, 0, "b"), (0.5, 0, "b"), (-0.5, 1, "b"),   # b: 2/4 right
]
GOOD_ACCURACY = {"overall": 0.625, "a": 0.75, "b": 0.5}
BAD_ACCURACY = {"overall": 0.375, "a": 0.25, "b": 0.5}

SCHEMA_PBTXT = """
feature { name: "x" type: FLOAT presence { min_fraction: 1.0 min_count: 1 } shape { dim { size: 1 } } }
feature { name: "y" type: INT presence { min_fraction: 1.0 min_count: 1 } shape { dim { size: 1 } } }
feature { name: "group" type: BYTES presence { min_fraction: 1.0 min_count: 1 } shape { dim { size: 1 } } }
"""


def serialized_examples(rows: list[tuple[float, int, str]] = EVAL_ROWS) -> list[bytes]:
    from tensorflow.core.example import example_pb2

    out = []
    for x, y, group in rows:
        example = example_pb2.Example()
        example.features.feature["x"].float_list.value.append(x)
        example.features.feature["y"].int64_list.value.append(y)
        example.features.feature["group"].bytes_list.value.append(group.encode())
        out.append(example.SerializeToString())
    return out


def write_examples(uri: str, rows: list[tuple[float, int, str]] = EVAL_ROWS, splits: tuple[str, ...] = ("eval",)) -> str:
    """Write ``rows`` as gzip TFRecords under ``<uri>/Split-<split>/data.gz`` for each split."""
    import tensorflow as tf

    for split in splits:
        directory = os.path.join(uri, f"Split-{split}")
        os.makedirs(directory, exist_ok=True)
        with tf.io.TFRecordWriter(os.path.join(directory, "data.gz"), tf.io.TFRecordOptions(compression_type="GZIP")) as w:
            for record in serialized_examples(rows):
                w.write(record)
    return uri


def write_schema(uri: str) -> str:
    os.makedirs(uri, exist_ok=True)
    with open(os.path.join(uri, "schema.pbtxt"), "w", encoding="utf-8") as f:
        f.write(SCHEMA_PBTXT)
    return uri


def build_model(model_uri: str, slope: float) -> str:
    """Export ``p = sigmoid(slope * x)`` to ``<model_uri>/Format-Serving`` and return that path."""
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    x_in = keras.Input(shape=(1,), name="x", dtype=tf.float32)
    dense = keras.layers.Dense(1, activation="sigmoid", name="score")
    model = keras.Model(inputs={"x": x_in}, outputs=dense(x_in))
    dense.set_weights([np.array([[slope]], dtype="float32"), np.array([0.0], dtype="float32")])

    feature_spec = {"x": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": model(tf.io.parse_example(examples, feature_spec))}

    export = os.path.join(model_uri, "Format-Serving")
    model.save(export, save_format="tf", signatures={"serving_default": serve_examples})
    return export


def eval_config(thresholds: dict | None = None, change: dict | None = None, slices: list | None = None) -> dict:
    """An EvalConfig dict (TFMA's JSON form) for the toy model; ``thresholds``/``change`` go on
    BinaryAccuracy."""
    accuracy: dict = {"class_name": "BinaryAccuracy"}
    threshold: dict = {}
    if thresholds:
        threshold["value_threshold"] = thresholds
    if change:
        threshold["change_threshold"] = change
    if threshold:
        accuracy["threshold"] = threshold
    return {
        "model_specs": [{"label_key": "y", "signature_name": "serving_default"}],
        "slicing_specs": slices if slices is not None else [{}, {"feature_keys": ["group"]}],
        "metrics_specs": [{"metrics": [{"class_name": "ExampleCount"}, accuracy]}],
    }


def run_executor(component, root: str, inputs: dict, *, pipeline_name: str = "test") -> dict:
    """Run ``component``'s executor in-process with fresh outputs under ``root``, as the runner
    would; its outputs, LIVE and with ids, so they can feed the next component."""
    from penstock import testing

    return testing.run_executor(component, pipeline_root=root, inputs=inputs, pipeline_name=pipeline_name)


_ids = itertools.count(1000)


def live(cls, uri: str, artifact_id: int, **properties):
    """A LIVE artifact of ``cls`` as the runner would hand it to an executor."""
    from penstock.dsl.artifact import ArtifactState

    return cls(uri, properties=properties, id=artifact_id, state=ArtifactState.LIVE)


def build_bulky_saved_model(model_uri: str, megabytes: int = 16) -> str:
    """A SavedModel with a large variables file: copying it takes long enough for a concurrent
    reader to catch a half-copied directory if a push were not atomic."""
    import tensorflow as tf

    module = tf.Module()
    module.weights = tf.Variable(tf.random.uniform([megabytes * 262_144]))  # 4 bytes per float

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": tf.fill(tf.shape(examples), module.weights[0])}

    export = os.path.join(model_uri, "Format-Serving")
    tf.saved_model.save(module, export, signatures={"serving_default": serve})
    return export


def build_noisy_model(model_uri: str) -> str:
    """A SavedModel whose answer changes on every call (random noise): served and in-process
    answers can never agree, as with real serving skew. The noise is seeded from the clock at
    each call: with ``tf.random.uniform`` a global seed set earlier in the process (a Trainer
    test) fixed the op's seed, and both processes drew the same numbers."""
    import tensorflow as tf

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        microseconds = tf.cast(tf.timestamp() * 1e6, tf.int64)
        seed = tf.stack([microseconds, microseconds // 7])
        return {"outputs": tf.random.stateless_uniform(tf.shape(examples), seed=seed)}

    export = os.path.join(model_uri, "Format-Serving")
    tf.saved_model.save(module, export, signatures={"serving_default": serve})
    return export
