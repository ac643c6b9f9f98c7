"""Loading a version: warmup requests replayed from assets.extra as TF Serving does, and a bad
warmup file failing the load (so the version is never served)."""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

import pytest
from _serving_models import make_example

from penstock.serving.servable import WARMUP_FILE, load_servable


def write_warmup(version_dir: str, records: list[Any]) -> None:
    import tensorflow as tf

    path = os.path.join(version_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())


def test_warmup_requests_are_replayed(tmp_path: Any, taxi_template: str, caplog: pytest.LogCaptureFixture) -> None:
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
    with caplog.at_level(logging.INFO, logger="penstock.serving"):
        servable = load_servable("taxi", 1, version_dir)
    assert "replayed 2 warmup request(s)" in caplog.text
    assert set(servable.signatures) == {"serving_default", "predict_raw", "classify", "regress"}


def test_a_failing_warmup_request_fails_the_load(tmp_path: Any, taxi_template: str) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    version_dir = str(tmp_path / "1")
    shutil.copytree(taxi_template, version_dir)
    bad = prediction_log_pb2.PredictionLog()
    bad.predict_log.request.inputs["not_an_input"].CopyFrom(tf.make_tensor_proto([1.0]))
    write_warmup(version_dir, [bad])
    with pytest.raises(Exception, match="unknown input"):
        load_servable("taxi", 1, version_dir)
