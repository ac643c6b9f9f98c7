"""TF Serving's REST and gRPC expectations run against penstock's server: the request/response
pairs of TF Serving's REST documentation (api_rest.md) on a TF1 Builder model like its
half_plus_three, TF1 predict/classify/regress signatures over both protocols, every dtype the APIs
carry (typed gRPC fields read with the official stubs), NaN/Infinity, TF Serving's URL rules,
gzip bodies, CORS, version labels, MultiInference, HandleReloadConfigRequest and the gRPC health
service."""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from _serving_models import DTYPE_INPUTS, example_request, push_version, x_example

from penstock.serving.config import ModelConfig, VersionPolicy
from penstock.serving.server import ModelServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tf1_templates: dict[int, str], dtypes_template: str,
           start_server: Callable[..., ModelServer]) -> ModelServer:
    root = tmp_path_factory.mktemp("conformance")
    half = str(root / "half_plus_three")
    push_version(tf1_templates[2], half, "00000123")  # TF Serving's test model has this version directory
    pair = str(root / "pair")
    push_version(tf1_templates[1], pair, 1)
    push_version(tf1_templates[2], pair, 2)
    dtypes = str(root / "dtypes")
    push_version(dtypes_template, dtypes, 1)
    models = [ModelConfig("saved_model_half_plus_three", half),
              ModelConfig("pair", pair, VersionPolicy("all"), labels={"stable": 1, "canary": 2}),
              ModelConfig("dtypes", dtypes)]
    return start_server(models, rest_cors=True, enable_grpc_healthcheck_service=True)


@pytest.fixture(scope="module")
def rest(server: ModelServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def grpc_server(server: ModelServer) -> ModelServer:
    return server


def post_text(rest: httpx.Client, path: str, body: str | bytes, **headers: str) -> httpx.Response:
    return rest.post(path, content=body, headers={"content-type": "application/json", **headers})


# ---- api_rest.md's worked example, request for request --------------------------------------------


def test_documented_status_predict_and_regress(rest: httpx.Client) -> None:
    status = rest.get("/v1/models/saved_model_half_plus_three")
    assert status.json() == {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    # the tutorial's request: a plain list to a [-1,1] input is fed as is, as TF Serving does
    r = post_text(rest, "/v1/models/saved_model_half_plus_three:predict", '{"instances": [1.0,2.0,5.0]}')
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [3.5, 4.0, 5.5]}
    assert b"[3.5,4.0,5.5]" in r.content  # floats written as TF Serving writes them
    r = post_text(rest, "/v1/models/saved_model_half_plus_three:regress",
                  '{"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}')
    assert r.json() == {"results": [3.5, 4.0]}
    r = post_text(rest, "/v1/models/half:predict", '{"instances": [1.0,5.0]}')
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert r.json() == {"error": "Servable not found for request: Latest(half)"}


def test_documented_row_and_columnar_formats(rest: httpx.Client) -> None:
    rows = post_text(rest, "/v1/models/pair/versions/1:predict", '{"instances": [[1.0], [2.0]]}').json()
    columns = post_text(rest, "/v1/models/pair/versions/1:predict", '{"inputs": {"x": [[1.0], [2.0]]}}').json()
    assert rows == {"predictions": [[2.5], [3.0]]} and columns == {"outputs": [[2.5], [3.0]]}
    # several outputs: a list of objects (rows) or an object of lists (columns)
    r = rest.post("/v1/models/dtypes:predict", json={"instances": [
        {name: _sample(name, i) for name in DTYPE_INPUTS} for i in range(2)]})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert len(predictions) == 2 and predictions[1]["i64_out"] == _sample("i64", 1)
    assert set(predictions[0]) == {f"{n}_out" for n in DTYPE_INPUTS} | {"doubled"}


# ---- TF1 classify and regress ----------------------------------------------------------------------


def test_tf1_classify_and_regress_over_rest(rest: httpx.Client) -> None:
    r = rest.post("/v1/models/pair/labels/stable:classify", json={
        "signature_name": "classify_two_classes", "examples": [{"x": 0.0}, {"x": -10.0}]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [[label for label, _ in row] for row in results] == [["low", "high"]] * 2
    low, high = 1 / (1 + math.exp(2.0)), 1 / (1 + math.exp(-2.0))
    assert results[0] == [["low", pytest.approx(low)], ["high", pytest.approx(high)]]
    # a float32 score is written as TF Serving writes it (9 digits when 6 do not read back as the
    # same float32), not with float64 digits (0.8807970690727234)
    assert b'["high",0.880797088]' in r.content
    r = rest.post("/v1/models/pair:classify", json={"signature_name": "classify_x_to_y", "examples": [{"x": 4.0}]})
    assert r.json() == {"results": [[["", 5.0]]]}  # no classes output: the label is ""
    # context features merge into every example; booleans become int64 features, as in TF Serving
    r = rest.post("/v1/models/pair/versions/2:regress", json={
        "signature_name": "regress_x_to_y", "context": {"x": 2.0, "flag": True}, "examples": [{"other": 1}]})
    assert r.json() == {"results": [4.0]}


def test_tf1_classify_regress_and_predict_over_grpc(stub: Any) -> None:
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import classification_pb2, predict_pb2, regression_pb2

    request = example_request(classification_pb2.ClassificationRequest, "pair", "classify_two_classes",
                              [x_example(0.0), x_example(1.0)], label="stable")
    response = stub.Classify(request, timeout=10)
    assert response.model_spec.version.value == 1
    assert [[c.label for c in row.classes] for row in response.result.classifications] == [["low", "high"]] * 2

    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "pair"
    request.model_spec.signature_name = "regress_x_to_y"
    with_context = request.input.example_list_with_context
    with_context.context.CopyFrom(example_pb2.Example.FromString(x_example(4.0)))
    with_context.examples.add()
    response = stub.Regress(request, timeout=10)
    assert [r.value for r in response.result.regressions] == [5.0]  # latest version: 0.5 * 4 + 3
    assert response.model_spec.version.value == 2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "saved_model_half_plus_three"
    request.inputs["x"].dtype = 1
    request.inputs["x"].tensor_shape.dim.add(size=3)
    request.inputs["x"].float_val.extend([1.0, 2.0, 5.0])  # typed fields in, typed fields out
    response = stub.Predict(request, timeout=10)
    assert list(response.outputs["y"].float_val) == [3.5, 4.0, 5.5]
    assert response.model_spec.version.value == 123 and response.model_spec.signature_name == "serving_default"


def test_classify_on_a_predict_signature_fails_with_tf_servings_message(stub: Any) -> None:
    from tensorflow_serving.apis import classification_pb2

    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "pair"
    request.input.example_list.examples.add()
    with pytest.raises(grpc.RpcError) as info:
        stub.Classify(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "No classification inputs found" in info.value.details()


# ---- every dtype -----------------------------------------------------------------------------------


def _sample(name: str, i: int) -> Any:
    """A value of each input's type that tests its range."""
    return {"f32": 0.1 + i, "f64": 1e-300 * (i + 1), "f16": 0.5 + i, "i8": -128 + i, "i16": -32768 + i,
            "i32": -(2**31) + i, "i64": -(2**63) + i, "u8": 255 - i, "u16": 65535 - i, "u32": 2**32 - 1 - i,
            "u64": 2**64 - 1 - i, "b": bool(i % 2), "s": f"text-{i}-\u00e9"}[name]


def test_every_dtype_round_trips_over_rest(rest: httpx.Client) -> None:
    columns = {name: [_sample(name, i) for i in range(3)] for name in DTYPE_INPUTS}
    r = rest.post("/v1/models/dtypes:predict", json={"inputs": columns})
    assert r.status_code == 200, r.text
    outputs = r.json()["outputs"]
    for name in DTYPE_INPUTS:
        if name in ("f32", "f16"):
            assert outputs[f"{name}_out"] == pytest.approx(columns[name], rel=1e-3)
        else:
            assert outputs[f"{name}_out"] == columns[name], name
    assert b'"f32_out":[0.1,1.1,2.1]' in r.content  # float32 written with float32 digits
    # out of range or of the wrong JSON type: refused with the type named
    for name, bad in (("u8", 256), ("u8", -1), ("i32", 1.5), ("b", 1), ("u64", 2**64), ("f32", "x")):
        body = {"inputs": {**columns, name: [bad] * 3}}
        r = rest.post("/v1/models/dtypes:predict", content=json.dumps(body))
        assert r.status_code == 400, (name, bad, r.text)
        assert "is not of expected type" in r.json()["error"]


def test_nan_and_infinity_in_and_out(rest: httpx.Client) -> None:
    body = {name: [_sample(name, 0)] for name in DTYPE_INPUTS}
    text = json.dumps({"inputs": body}).replace('"f32": [0.1]', '"f32": [NaN]').replace(
        '"f64": [1e-300]', '"f64": [-Infinity]')
    r = post_text(rest, "/v1/models/dtypes:predict", text)
    assert r.status_code == 200, r.text
    assert b'"f32_out":[NaN]' in r.content and b'"f64_out":[-Infinity]' in r.content
    outputs = json.loads(r.content)["outputs"]  # Python's json reads TF Serving's NaN and Infinity
    assert math.isnan(outputs["doubled"][0]) and outputs["f64_out"] == [-math.inf]


def test_every_dtype_round_trips_over_grpc_in_typed_fields(stub: Any) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "dtypes"
    kinds = {"f32": tf.float32, "f64": tf.float64, "f16": tf.float16, "i8": tf.int8, "i16": tf.int16,
             "i32": tf.int32, "i64": tf.int64, "u8": tf.uint8, "u16": tf.uint16, "u32": tf.uint32,
             "u64": tf.uint64, "b": tf.bool, "s": tf.string}
    values = {name: [_sample(name, i) for i in range(2)] for name in DTYPE_INPUTS}
    for name in DTYPE_INPUTS:  # tensor_content from make_tensor_proto, and typed fields, both read
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values[name], dtype=kinds[name]))
    response = stub.Predict(request, timeout=10)
    fields = {"f32": "float_val", "f64": "double_val", "f16": "half_val", "i8": "int_val", "i16": "int_val",
              "i32": "int_val", "i64": "int64_val", "u8": "int_val", "u16": "int_val", "u32": "uint32_val",
              "u64": "uint64_val", "b": "bool_val", "s": "string_val"}
    for name, field in fields.items():
        out = response.outputs[f"{name}_out"]
        assert out.tensor_content == b"", name
        assert len(getattr(out, field)) == 2, name
        assert list(tf.make_ndarray(out)) == pytest.approx(list(tf.make_ndarray(request.inputs[name])))


# ---- URLs, bodies, headers ------------------------------------------------------------------------


def test_paths_are_case_insensitive_and_names_percent_decoded(rest: httpx.Client) -> None:
    r = post_text(rest, "/V1/MODELS/saved_model_half_plus_three:predict", '{"instances": [1.0]}')
    assert r.json() == {"predictions": [3.5]}
    r = post_text(rest, "/v1/models/saved%5Fmodel_half_plus_three/versions/123:predict", '{"instances": [1.0]}')
    assert r.json() == {"predictions": [3.5]}


def test_gzip_request_bodies(rest: httpx.Client) -> None:
    body = gzip.compress(b'{"instances": [1.0, 2.0]}')
    r = post_text(rest, "/v1/models/saved_model_half_plus_three:predict", body, **{"content-encoding": "gzip"})
    assert r.json() == {"predictions": [3.5, 4.0]}


def test_cors(rest: httpx.Client) -> None:
    r = rest.get("/v1/models/pair")
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-methods"] == "POST, GET"
    preflight = rest.options("/v1/models/pair:predict", headers={"origin": "https://app.example"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-headers"] == "Content-Type"
    assert rest.options("/v1/models/pair:predict").status_code == 400  # no Origin: not a preflight


# ---- labels -----------------------------------------------------------------------------------------


def test_labels(rest: httpx.Client, stub: Any) -> None:
    from tensorflow_serving.apis import predict_pb2

    stable = post_text(rest, "/v1/models/pair/labels/stable:predict", '{"instances": [[2.0]]}').json()
    canary = post_text(rest, "/v1/models/pair/labels/canary:predict", '{"instances": [[2.0]]}').json()
    assert stable == {"predictions": [[3.0]]} and canary == {"predictions": [[4.0]]}
    r = post_text(rest, "/v1/models/pair/labels/nope:predict", '{"instances": [[2.0]]}')
    assert r.status_code == 400 and r.json() == {"error": "Unrecognized servable version label: nope"}
    # status ignores the label, as TF Serving does: every version, newest first
    versions = [s["version"] for s in rest.get("/v1/models/pair/labels/stable").json()["model_version_status"]]
    assert versions == ["2", "1"]
    assert rest.get("/v1/models/pair/labels/stable/metadata").json()["model_spec"]["version"] == "1"
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "pair"
    request.model_spec.version_label = "nope"
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ---- the rest of the gRPC surface ------------------------------------------------------------------


def test_multi_inference(stub: Any) -> None:
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import inference_pb2

    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (("classify_two_classes", "tensorflow/serving/classify"),
                              ("regress_x_to_y", "tensorflow/serving/regress")):
        task = request.tasks.add()
        task.model_spec.name = "pair"
        task.model_spec.version_label = "stable"
        task.model_spec.signature_name = signature
        task.method_name = method
    request.input.example_list.examples.append(example_pb2.Example.FromString(x_example(2.0)))
    response = stub.MultiInference(request, timeout=10)
    classification, regression = response.results
    assert [c.label for c in classification.classification_result.classifications[0].classes] == ["low", "high"]
    assert [r.value for r in regression.regression_result.regressions] == [3.0]
    assert regression.model_spec.signature_name == "regress_x_to_y" and regression.model_spec.version.value == 1
    request.tasks[1].method_name = "tensorflow/serving/predict"
    with pytest.raises(grpc.RpcError) as info:
        stub.MultiInference(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_health_service(channel: grpc.Channel) -> None:
    from penstock.serving._protos import message_class

    request_class = message_class("grpc.health.v1.HealthCheckRequest")
    response_class = message_class("grpc.health.v1.HealthCheckResponse")
    check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=request_class.SerializeToString,
                                response_deserializer=response_class.FromString)
    for service in ("", "ModelService", "PredictionService"):
        assert check(request_class(service=service), timeout=10).status == 1  # SERVING
    with pytest.raises(grpc.RpcError) as info:
        check(request_class(service="nope"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_reload_config_request(server: ModelServer, channel: grpc.Channel, rest: httpx.Client) -> None:
    """HandleReloadConfigRequest as TF Serving: a label may move only to an available version."""
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    stub = model_service_pb2_grpc.ModelServiceStub(channel)

    def reload(labels: dict[str, int], versions: tuple[int, ...]) -> Any:
        request = model_management_pb2.ReloadConfigRequest()
        for model in server.models:
            entry = request.config.model_config_list.config.add(name=model.name, base_path=model.base_path)
            if model.name == "pair":
                entry.model_version_policy.specific.versions.extend(versions)
                for label, version in labels.items():
                    entry.version_labels[label] = version
        return stub.HandleReloadConfigRequest(request, timeout=60)

    with pytest.raises(grpc.RpcError) as info:
        reload({"stable": 7}, (1, 2))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Request to assign label to version 7 of model pair" in info.value.details()
    twice = model_management_pb2.ReloadConfigRequest()
    for _ in range(2):
        twice.config.model_config_list.config.add(name="pair", base_path=server.models[1].base_path)
    with pytest.raises(grpc.RpcError) as info:
        stub.HandleReloadConfigRequest(twice, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Illegal to list model pair multiple times" in info.value.details()
    assert reload({"stable": 2, "canary": 2}, (1, 2)).status.error_code == 0
    assert post_text(rest, "/v1/models/pair/labels/stable:predict", '{"instances": [[2.0]]}').json() == {
        "predictions": [[4.0]]}
    # policy down to version 2: version 1 goes, only once 2 serves (it already does)
    assert reload({"stable": 2}, (2,)).status.error_code == 0
    states = {s["version"]: s["state"] for s in rest.get("/v1/models/pair").json()["model_version_status"]}
    assert states == {"2": "AVAILABLE", "1": "END"}


def test_messages_past_64_mib(server: ModelServer) -> None:
    """A request past 64 MiB is taken (TF Serving allows up to INT32_MAX), and answered in full."""
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "saved_model_half_plus_three"
    values = np.arange(17_000_000, dtype=np.float32)  # 68 MB of tensor_content
    request.inputs["x"].dtype = 1
    request.inputs["x"].tensor_shape.dim.add(size=values.size)
    request.inputs["x"].tensor_content = values.tobytes()
    request.output_filter.append("y")
    unlimited = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=unlimited) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=120)
    assert len(response.outputs["y"].float_val) == values.size
    assert response.outputs["y"].float_val[10] == 8.0
