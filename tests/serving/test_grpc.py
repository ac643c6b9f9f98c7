"""TF Serving's gRPC API through the official tensorflow-serving-api stubs, unchanged, on a TF2
Keras model: outputs in the typed value fields TF Serving's example clients read, and TF Serving's
status codes."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from _serving_models import example_request, make_example, raw_instance

from penstock.serving.server import ModelServer


@pytest.fixture(scope="module")
def grpc_server(taxi_server: ModelServer) -> ModelServer:
    return taxi_server


def predict_request(name: str = "taxi", signature: str = "predict_raw", **spec: Any) -> Any:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    rows = [raw_instance(i) for i in range(2)]
    for key in rows[0]:
        values = [row[key] for row in rows]
        request.inputs[key].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string if isinstance(values[0], str)
                                                          else tf.float32))
    return request


def test_predict_raw_tensors_and_examples(stub: Any) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    response = stub.Predict(predict_request(), timeout=10)
    assert response.model_spec.name == "taxi"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "predict_raw"
    # TF Serving's clients read the typed fields (result.outputs["y"].float_val), not tensor_content
    probability_proto = response.outputs["probability"]
    assert probability_proto.tensor_content == b"" and len(probability_proto.float_val) == 2
    probability = list(probability_proto.float_val)
    assert all(0 <= p <= 1 for p in probability)
    assert list(response.outputs["class_id"].int64_val) == [int(p > 0.5) for p in probability]
    assert [d.size for d in probability_proto.tensor_shape.dim] == [2]

    filtered = predict_request()
    filtered.output_filter.append("probability")
    assert set(stub.Predict(filtered, timeout=10).outputs) == {"probability"}

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "taxi"
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto([make_example(), make_example(fare=30.0)]))
    response = stub.Predict(request, timeout=10)
    outputs = tf.make_ndarray(response.outputs["outputs"])
    assert outputs.shape == (2,)
    assert response.model_spec.signature_name == "serving_default"  # the default, named as TF Serving does


def test_classify_and_regress(stub: Any) -> None:
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    examples = [make_example(fare=5.0 + i) for i in range(2)]
    response = stub.Classify(example_request(classification_pb2.ClassificationRequest, "taxi", "classify", examples),
                             timeout=10)
    assert response.model_spec.version.value == 2
    assert [[c.label for c in cls.classes] for cls in response.result.classifications] == [["no_tip", "tip"]] * 2

    regress = example_request(regression_pb2.RegressionRequest, "taxi", "regress", examples)
    values = [r.value for r in stub.Regress(regress, timeout=10).result.regressions]
    assert values == pytest.approx([cls.classes[1].score for cls in response.result.classifications], abs=1e-6)


def test_metadata_and_status(stub: Any, channel: grpc.Channel) -> None:
    from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc

    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "taxi"
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, timeout=10)
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    assert signature_defs.signature_def["classify"].method_name == "tensorflow/serving/classify"
    assert response.model_spec.version.value == 2

    status_stub = model_service_pb2_grpc.ModelServiceStub(channel)
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "taxi"
    status = status_stub.GetModelStatus(status_request, timeout=10)
    assert [(s.version, s.state) for s in status.model_version_status] == [
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]


@pytest.mark.parametrize(("request_factory", "code", "message"), [
    (lambda: predict_request(name="nope"), grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)"),
    (lambda: predict_request(version=9), grpc.StatusCode.NOT_FOUND, "Specific(taxi, 9)"),
    (lambda: predict_request(version_label="stable"), grpc.StatusCode.INVALID_ARGUMENT,
     "Unrecognized servable version label: stable"),
    (lambda: predict_request(name=""), grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
    (lambda: predict_request(signature="nope"), grpc.StatusCode.FAILED_PRECONDITION,
     'Serving signature key "nope" not found.'),
    (lambda: predict_request(signature="serving_default"), grpc.StatusCode.INVALID_ARGUMENT,
     "input size does not match signature: 5!=1"),
])
def test_errors_map_to_grpc_status(stub: Any, request_factory: Any, code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request_factory(), timeout=10)
    assert info.value.code() == code
    assert message in info.value.details()


def test_wrong_dtype_and_shape(stub: Any) -> None:
    import tensorflow as tf

    # as in TF Serving, the graph refuses what it cannot take: the type and the shape
    request = predict_request()
    request.inputs["fare"].CopyFrom(tf.make_tensor_proto([1.0, 2.0], dtype=tf.float64))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "double" in info.value.details() and "float" in info.value.details()

    request = predict_request()
    request.inputs["fare"].CopyFrom(tf.make_tensor_proto([[[1.0]], [[2.0]]], dtype=tf.float32))
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    request = predict_request()
    request.inputs["fare"].tensor_shape.dim[0].size = 1 << 40
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
