"""TF Serving's REST API against a real server on loopback, on a TF2 Keras model: status,
metadata, predict (row, columnar, b64), classify, regress, metrics, bad input answered with TF
Serving's 4xx, and a large request that does not hold up small ones."""

from __future__ import annotations

import base64
import gzip
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _serving_models import PAYMENT_TYPES, make_example, raw_instance

from penstock.serving.server import ModelServer


@pytest.fixture(scope="module")
def client(taxi_server: ModelServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{taxi_server.rest_port}", timeout=10) as c:
        yield c


def b64_example(**features: object) -> dict[str, str]:
    return {"b64": base64.b64encode(make_example(**features)).decode()}  # type: ignore[arg-type]


def test_status_reports_latest_version_available(client: httpx.Client) -> None:
    r = client.get("/v1/models/taxi")
    assert r.status_code == 200
    assert r.json() == {"model_version_status": [
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert client.get("/v1/models/taxi/versions/2").json()["model_version_status"][0]["version"] == "2"


def test_metadata_has_tf_serving_shape(client: httpx.Client) -> None:
    r = client.get("/v1/models/taxi/metadata")
    assert r.status_code == 200
    body = r.json()
    assert body["model_spec"] == {"name": "taxi", "signature_name": "", "version": "2"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    # TF Serving reports every signature of the meta graph, TF2's initializer included
    assert set(sigs) == {"serving_default", "predict_raw", "classify", "regress", "__saved_model_init_op"}
    examples = sigs["serving_default"]["inputs"]["examples"]
    assert examples["dtype"] == "DT_STRING"
    assert examples["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert sigs["classify"]["method_name"] == "tensorflow/serving/classify"
    assert sigs["predict_raw"]["outputs"]["class_id"]["dtype"] == "DT_INT64"


def test_predict_row_and_columnar_formats_agree(client: httpx.Client) -> None:
    rows = [raw_instance(i) for i in range(3)]
    r = client.post("/v1/models/taxi:predict", json={"signature_name": "predict_raw", "instances": rows})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"predictions"}  # nothing TF Serving does not send
    predictions = body["predictions"]
    assert len(predictions) == 3 and set(predictions[0]) == {"probability", "class_id"}
    columns = {k: [row[k] for row in rows] for k in rows[0]}
    r = client.post("/v1/models/taxi:predict", json={"signature_name": "predict_raw", "inputs": columns})
    assert r.status_code == 200, r.text
    outputs = r.json()["outputs"]
    assert outputs["probability"] == pytest.approx([p["probability"] for p in predictions])
    assert outputs["class_id"] == [int(p > 0.5) for p in outputs["probability"]]


def test_predict_on_serialized_examples_with_b64(client: httpx.Client) -> None:
    cash, card = b64_example(payment_type="Cash"), b64_example(payment_type="Credit Card")
    r = client.post("/v1/models/taxi:predict", json={"instances": [cash, card]})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert len(predictions) == 2 and all(0.0 <= p <= 1.0 for p in predictions)
    raw = client.post("/v1/models/taxi:predict", json={"signature_name": "predict_raw", "instances": [
        {"trip_miles": 3.0, "trip_seconds": 600.0, "fare": 12.5, "payment_type": t, "company": "Flash Cab"}
        for t in ("Cash", "Credit Card")]}).json()["predictions"]
    assert predictions == pytest.approx([p["probability"] for p in raw], abs=1e-6)
    columnar = client.post("/v1/models/taxi:predict", json={"inputs": {"examples": [cash, card]}})
    assert columnar.json()["outputs"] == pytest.approx(predictions)


def test_classify_and_regress(client: httpx.Client) -> None:
    examples = [{"trip_miles": 2.0, "trip_seconds": 400.0, "fare": 9.0, "payment_type": t, "company": "Sun Taxi"}
                for t in PAYMENT_TYPES[:2]]
    r = client.post("/v1/models/taxi:classify", json={"signature_name": "classify", "examples": examples})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"results"}  # TF Serving's key (api_rest.md says "result"; the server sends this)
    result = r.json()["results"]
    assert [[label for label, _ in classes] for classes in result] == [["no_tip", "tip"]] * 2
    assert all(sum(score for _, score in classes) == pytest.approx(1.0, abs=1e-5) for classes in result)
    r = client.post("/v1/models/taxi:regress", json={"signature_name": "regress", "examples": examples})
    assert r.status_code == 200, r.text
    assert r.json()["results"] == pytest.approx([classes[1][1] for classes in result], abs=1e-6)
    # context features merge into each example, as in TF Serving
    r = client.post("/v1/models/taxi:regress", json={
        "signature_name": "regress", "context": {"company": "Sun Taxi", "trip_seconds": 400.0},
        "examples": [{"trip_miles": 2.0, "fare": 9.0, "payment_type": t} for t in PAYMENT_TYPES[:2]]})
    assert r.json()["results"] == pytest.approx([classes[1][1] for classes in result], abs=1e-6)
    # TF Serving does not regress on a predict signature with input "examples" (penstock can, opt-in)
    r = client.post("/v1/models/taxi:regress", json={"examples": examples})
    assert r.status_code == 400 and "No regression inputs found" in r.json()["error"]


def test_metrics_have_tf_serving_names(client: httpx.Client) -> None:
    client.post("/v1/models/taxi:predict", json={"instances": [b64_example()]})
    client.post("/v1/models/taxi:predict", json={"instances": "oops"})
    client.post("/v1/models/made_up:predict", json={"instances": [1]})
    r = client.get("/monitoring/prometheus/metrics")
    assert r.headers["content-type"] == "text/plain"
    text = r.text
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert re.search(r'^:tensorflow:serving:request_count\{model_name="taxi",status="OK"\} [1-9]', text, re.M)
    assert re.search(r'^:tensorflow:serving:request_count\{model_name="taxi",status="INVALID_ARGUMENT"\} [1-9]',
                     text, re.M)
    # a name no model has is counted without growing the label set
    assert 'model_name="made_up"' not in text
    assert re.search(r'^:tensorflow:serving:request_count\{model_name="",status="NOT_FOUND"\} [1-9]', text, re.M)
    buckets = re.findall(r'^:tensorflow:serving:request_latency_bucket\{model_name="taxi",API="predict",'
                         r'entrypoint="REST",le="([^"]+)"\} (\d+)$', text, re.M)
    assert [le for le, _ in buckets[:4]] == ["10", "18", "32.4", "58.32"] and buckets[-1][0] == "+Inf"
    assert len(buckets) == 34 and int(buckets[-1][1]) >= 1
    assert re.search(r'^:tensorflow:serving:runtime_latency_count\{model_name="taxi",API="Predict",runtime="TF1"\} '
                     r'[1-9]', text, re.M)


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/v1/models/nope:predict", {"instances": [1]}, 404, "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/taxi/versions/7:predict", {"instances": [1]}, 404,
     "Servable not found for request: Specific(taxi, 7)"),
    ("POST", "/v1/models/taxi/labels/canary:predict", {"instances": [1]}, 400,
     "Unrecognized servable version label: canary"),
    ("POST", "/v1/models/taxi/versions/x1:predict", {"instances": [1]}, 400, "Malformed request"),
    ("POST", "/v1/models/taxi/versions/99999999999999999999:predict", {"instances": [1]}, 400,
     "Failed to convert version: 99999999999999999999 to numeric."),
    ("POST", "/v1/models/..:predict", {"instances": [1]}, 404, "Servable not found for request: Latest(..)"),
    ("POST", "/v1/models/taxi:explain", {}, 400, "Malformed request: POST /v1/models/taxi:explain"),
    ("POST", "/v1/models/taxi:PREDICT", {}, 400, "Malformed request"),
    ("GET", "/v1/models/taxi:predict", None, 400, "Malformed request: GET /v1/models/taxi:predict"),
    ("POST", "/v1/models/taxi", {}, 400, "Malformed request: POST /v1/models/taxi"),
    ("PUT", "/v1/models/taxi:predict", {}, 400, "Malformed request: PUT"),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("GET", "/v1/models/taxi/versions/9", None, 404, "Could not find version 9 of model taxi"),
    ("GET", "/v2/whatever", None, 404, "Not Found"),
    ("POST", "/v1/models/taxi:predict", {"instances": [1], "inputs": [1]}, 400, "expecting only one of"),
    ("POST", "/v1/models/taxi:predict", {"signature_name": "nope", "instances": [1]}, 400,
     'Serving signature name: "nope" not found in signature def'),
    ("POST", "/v1/models/taxi:predict", {"signature_name": 7, "instances": [1]}, 400,
     "'signature_name' key must be a string value"),
    ("POST", "/v1/models/taxi:predict", {"signature_name": "predict_raw", "instances": [{"trip_miles": 1.0}]},
     400, "keys must be equal to: company,fare,payment_type,trip_miles,trip_seconds"),
    ("POST", "/v1/models/taxi:predict",
     {"signature_name": "predict_raw", "instances": [{**raw_instance(), "tips": 1.0}]}, 400,
     "does not have named input: tips"),
    ("POST", "/v1/models/taxi:predict",
     {"signature_name": "predict_raw", "instances": [{**raw_instance(), "fare": "cheap"}]}, 400,
     'JSON Value: "cheap" Type: String is not of expected type: float'),
    ("POST", "/v1/models/taxi:predict",
     {"signature_name": "predict_raw", "instances": [{**raw_instance(), "company": 3}]}, 400,
     "is not of expected type: string"),
    ("POST", "/v1/models/taxi:predict",
     {"signature_name": "predict_raw", "instances": [raw_instance(), {**raw_instance(), "fare": [1.0, 2.0]}]},
     400, "Expecting shape [] but got: [2]"),
    ("POST", "/v1/models/taxi:predict", {"instances": [{"b64": "!!!"}]}, 400, "Unable to base64 decode"),
    ("POST", "/v1/models/taxi:predict", {"instances": [{"b64": "aGVsbG8="}]}, 400, "Could not parse example input"),
    ("POST", "/v1/models/taxi:predict", {"instances": []}, 400, "No values in 'instances' array"),
    ("POST", "/v1/models/taxi:predict", {"nothing": 1}, 400, "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/taxi:classify", {"signature_name": "predict_raw", "examples": [{}]}, 400,
     "Expected one input Tensor."),
    ("POST", "/v1/models/taxi:regress", {"signature_name": "regress", "examples": [{"fare": [[1]]}]}, 400,
     "Feature: fare has element with unexpected JSON type: Array"),
    ("POST", "/v1/models/taxi:regress", {"signature_name": "regress", "examples": [{"fare": [1, 2.5]}]}, 400,
     "Unexpected element type in feature: fare expecting type: int64"),
    ("POST", "/v1/models/taxi:classify", {"signature_name": "classify", "examples": []}, 400,
     "'examples' value is an empty array"),
    ("POST", "/v1/models/taxi:classify", {"signature_name": "nope", "examples": [{}]}, 400,
     "No signature was found with the name: nope"),
])
def test_bad_requests_get_tf_serving_status_and_message(client: httpx.Client, method: str, path: str,
                                                        body: object, status: int, message: str) -> None:
    r = client.request(method, path, json=body) if body is not None else client.request(method, path)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert r.headers["content-type"] == "application/json"


def test_malformed_json_and_oversize_body(client: httpx.Client, taxi_server: ModelServer) -> None:
    r = client.post("/v1/models/taxi:predict", content=b'{"instances": [1,')
    assert r.status_code == 400 and "JSON Parse error" in r.json()["error"]
    r = client.post("/v1/models/taxi:predict", content=b"")
    assert r.status_code == 400 and r.json()["error"] == "JSON Parse error: The document is empty"
    limit = taxi_server.options.max_request_bytes
    r = client.post("/v1/models/taxi:predict", content=b"x" * (limit + 1))
    assert r.status_code == 429 and "exceeds the limit" in r.json()["error"]  # RESOURCE_EXHAUSTED, as TF Serving
    # a gzip body that inflates past the limit is refused as well
    r = client.post("/v1/models/taxi:predict", content=gzip.compress(b" " * (limit + 10)),
                    headers={"content-encoding": "gzip"})
    assert r.status_code == 429 and "once decompressed" in r.json()["error"]
    # the server still answers afterwards
    assert client.post("/v1/models/taxi:predict", json={"instances": [b64_example()]}).status_code == 200


def test_a_large_request_does_not_hold_up_small_ones(tmp_path_factory: pytest.TempPathFactory,
                                                     tf1_templates: dict[int, str], start_server: Any) -> None:
    """While a ~10 MB request is parsed, run and answered, small requests keep being answered
    (before, the event loop parsed it and every other request waited)."""
    import socket
    import threading

    from _serving_models import push_version

    from penstock.serving.config import ModelConfig

    base = str(tmp_path_factory.mktemp("large") / "half")
    push_version(tf1_templates[1], base, 1)
    server = start_server([ModelConfig("half", base)])
    rows = 1_000_000
    body = ('{"inputs": [' + ",".join(["[0.5]"] * rows) + "]}").encode()
    request = (b"POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    sent, answered = threading.Event(), threading.Event()
    response = bytearray()

    def big() -> None:
        with socket.create_connection(("127.0.0.1", server.rest_port)) as sock:
            sock.sendall(request)
            sent.set()
            while chunk := sock.recv(1 << 20):
                response.extend(chunk)
        answered.set()

    thread = threading.Thread(target=big)
    thread.start()
    small_answered = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=60) as client:
        sent.wait(timeout=120)
        while not answered.is_set() and small_answered < 10_000:
            r = client.post("/v1/models/half:predict", content=b'{"instances": [[1.0]]}')
            if not answered.is_set():
                assert r.json() == {"predictions": [[2.5]]}
                small_answered += 1
    thread.join(timeout=120)
    assert response.startswith(b"HTTP/1.1 200")
    assert response.count(b"2.25") == rows  # the large one was answered in full
    assert small_answered >= 20, f"only {small_answered} small requests answered while the large one ran"
