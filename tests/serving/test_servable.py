"""Loading a version: warmup requests replayed from assets.extra through the same dispatch as
real requests (predict, classify, regress, MultiInference), as TF Serving does; a bad warmup
record fails the load, so the version is never served; a TF1 model's signatures run by tensor
name."""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
import pytest
from _serving_models import make_example, x_example

from penstock.serving import warmup
from penstock.serving.errors import RequestError
from penstock.serving.servable import load_servable


def write_warmup(version_dir: str, records: list[Any]) -> None:
    import tensorflow as tf

    path = os.path.join(version_dir, warmup.WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())


def test_warmup_requests_are_replayed(tmp_path: Any, taxi_template: str, tf1_templates: dict[int, str]) -> None:
    import tensorflow as tf
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    version_dir = str(tmp_path / "1")
    shutil.copytree(taxi_template, version_dir)
    predict = prediction_log_pb2.PredictionLog()
    predict.predict_log.request.model_spec.name = "taxi"
    predict.predict_log.request.inputs["examples"].CopyFrom(tf.make_tensor_proto([make_example()]))
    classify = prediction_log_pb2.PredictionLog()
    classify.classify_log.request.model_spec.signature_name = "classify"
    classify.classify_log.request.input.example_list.examples.append(example_pb2.Example.FromString(make_example()))
    write_warmup(version_dir, [predict, classify])
    servable = load_servable("taxi", 1, version_dir)
    assert warmup.replay(servable, iterations=2) == 2
    assert set(servable.signatures) == {"serving_default", "predict_raw", "classify", "regress"}
    servable.close()

    tf1_dir = str(tmp_path / "tf1")
    shutil.copytree(tf1_templates[1], tf1_dir)
    multi = prediction_log_pb2.PredictionLog()
    task = multi.multi_inference_log.request.tasks.add()
    task.model_spec.name = "half"
    task.model_spec.signature_name, task.method_name = "regress_x_to_y", "tensorflow/serving/regress"
    multi.multi_inference_log.request.input.example_list.examples.append(
        example_pb2.Example.FromString(x_example(1.0)))
    write_warmup(tf1_dir, [multi])
    tf1 = load_servable("half", 1, tf1_dir)
    assert warmup.replay(tf1) == 1
    # a TF1 signature input can be any graph tensor; its shape is the graph's business
    y = tf1.signatures["serving_default"].run({"x": np.array([1.0, 2.0], np.float32)}, ("y",))["y"]
    assert y.tolist() == [2.5, 3.0]
    tf1.close()


def test_a_failing_warmup_request_fails_the_load(tmp_path: Any, taxi_template: str) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    version_dir = str(tmp_path / "1")
    shutil.copytree(taxi_template, version_dir)
    bad = prediction_log_pb2.PredictionLog()
    bad.predict_log.request.inputs["not_an_input"].CopyFrom(tf.make_tensor_proto([1.0]))
    write_warmup(version_dir, [bad])
    servable = load_servable("taxi", 1, version_dir)
    with pytest.raises(RequestError, match="input tensor alias not found in signature: not_an_input"):
        warmup.replay(servable)
    servable.close()
