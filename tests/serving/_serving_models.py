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
    tf.random.set_seed(None)  # leave no global seed behind for other tests' random ops
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


def push_version(template_dir: str, base_path: str, version: int | str) -> str:
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


# ---- TF1 (tf.compat.v1 Builder) and TF2 test models with TF Serving's kinds of signatures -------------


def build_tf1_linear_model(export_dir: str, slope: float = 0.5, intercept: float = 2.0) -> str:
    """A TF1 SavedModel written with ``tf.compat.v1.saved_model.Builder``, the way Estimator-era
    exports and TF Serving's own test models are: ``y = slope * x + intercept``.

    Signatures (TF Serving's three methods): ``serving_default`` predict ``x`` [-1,1] float -> ``y``,
    where ``x`` is not a placeholder but the parsed feature (any graph tensor can be fed);
    ``classify_x_to_y`` classify ``inputs`` (serialized tf.Example with float feature ``x``) ->
    ``scores`` [-1,1]; ``classify_two_classes`` -> ``classes`` ["low","high"] and ``scores``;
    ``regress_x_to_y`` regress ``inputs`` -> ``outputs``; the same regress and classify signatures
    also under the names ``tensorflow/serving/regress`` and ``tensorflow/serving/classify``, which
    TF Serving's REST documentation calls. Variables restore from variables/, and a main_op runs at
    load (as Estimator exports' table initializers do).
    """
    import tensorflow as tf

    v1 = tf.compat.v1
    sig_utils = v1.saved_model.signature_def_utils
    build_info = v1.saved_model.utils.build_tensor_info
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        parsed = v1.io.parse_example(serialized, {"x": v1.io.FixedLenFeature([1], tf.float32)})
        x = tf.identity(parsed["x"], name="x")
        a = v1.Variable(slope, name="slope")
        b = v1.Variable(intercept, name="intercept")
        y = tf.identity(a * x + b, name="y")
        batch = tf.shape(y)[0]
        classes = tf.tile(tf.constant([["low", "high"]]), [batch, 1], name="classes")
        probability = tf.sigmoid(y)
        scores = tf.concat([1.0 - probability, probability], axis=1, name="scores")
        signatures = {
            "serving_default": sig_utils.build_signature_def(
                {"x": build_info(x)}, {"y": build_info(y)}, v1.saved_model.signature_constants.PREDICT_METHOD_NAME),
            "classify_x_to_y": sig_utils.build_signature_def(
                {"inputs": build_info(serialized)}, {"scores": build_info(y)},
                v1.saved_model.signature_constants.CLASSIFY_METHOD_NAME),
            "classify_two_classes": sig_utils.build_signature_def(
                {"inputs": build_info(serialized)}, {"classes": build_info(classes), "scores": build_info(scores)},
                v1.saved_model.signature_constants.CLASSIFY_METHOD_NAME),
            "regress_x_to_y": sig_utils.build_signature_def(
                {"inputs": build_info(serialized)}, {"outputs": build_info(y)},
                v1.saved_model.signature_constants.REGRESS_METHOD_NAME),
        }
        signatures["tensorflow/serving/regress"] = signatures["regress_x_to_y"]
        signatures["tensorflow/serving/classify"] = signatures["classify_x_to_y"]
        sess.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(sess, [v1.saved_model.tag_constants.SERVING],
                                             signature_def_map=signatures, main_op=v1.tables_initializer())
        builder.save()
    return export_dir


DTYPE_INPUTS = ("f32", "f64", "f16", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "b", "s")


def build_tf2_dtypes_model(export_dir: str) -> str:
    """A TF2 SavedModel whose ``serving_default`` echoes one input of every dtype the serving APIs
    carry (``<name>`` -> ``<name>_out``), plus ``doubled``: f32 * 2 (a computed float)."""
    import tensorflow as tf

    dtypes = {"f32": tf.float32, "f64": tf.float64, "f16": tf.float16, "i8": tf.int8, "i16": tf.int16,
              "i32": tf.int32, "i64": tf.int64, "u8": tf.uint8, "u16": tf.uint16, "u32": tf.uint32,
              "u64": tf.uint64, "b": tf.bool, "s": tf.string}

    class Echo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], dtypes[name], name=name) for name in DTYPE_INPUTS])
        def serve(self, *values: tf.Tensor) -> dict[str, tf.Tensor]:
            out = {f"{name}_out": tf.identity(value) for name, value in zip(DTYPE_INPUTS, values)}
            out["doubled"] = values[0] * 2.0
            return out

    module = Echo()
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
    return export_dir


def build_tf2_batch_dependent_model(export_dir: str) -> str:
    """``y = x - mean(x)`` over the batch: each row's answer depends on the other rows, so stacking
    two clients' requests would leak one's data into the other's answer."""
    import tensorflow as tf

    class Centered(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": x - tf.reduce_mean(x)}

    module = Centered()
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
    return export_dir


def declare_batchable(version_dir: str, text: str = "max_batch_size { value: 64 }\n") -> None:
    """Ship TF Serving's per-model batching file: the model's statement that its rows are independent."""
    with open(os.path.join(version_dir, "batching_params.pbtxt"), "w") as f:
        f.write(text)


def x_example(x: float, **floats: float) -> bytes:
    """A serialized tf.Example with float feature ``x`` (and any others)."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in {"x": x, **floats}.items():
        example.features.feature[name].float_list.value.append(value)
    return example.SerializeToString()


def example_request(message_class: object, model: str, signature: str, examples: list[bytes],
                    label: str = "") -> object:
    """A Classification/RegressionRequest (``message_class``) on serialized tf.Examples."""
    from tensorflow.core.example import example_pb2

    request = message_class()  # type: ignore[operator]
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if label:
        request.model_spec.version_label = label
    for serialized in examples:
        request.input.example_list.examples.append(example_pb2.Example.FromString(serialized))
    return request
