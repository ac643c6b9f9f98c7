"""TF Serving's REST API against a real server on loopback: status, metadata, predict (row,
columnar, b64), classify, regress, metrics, and bad input answered with a 4xx."""

from __future__ import annotations

import base64
from collections.abc import Iterator

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
    assert set(sigs) == {"serving_default", "predict_raw", "classify", "regress"}
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
    assert body["model_version"] == "2"
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
    result = r.json()["result"]
    assert [[label for label, _ in classes] for classes in result] == [["no_tip", "tip"]] * 2
    assert all(sum(score for _, score in classes) == pytest.approx(1.0, abs=1e-5) for classes in result)
    r = client.post("/v1/models/taxi:regress", json={"signature_name": "regress", "examples": examples})
    assert r.status_code == 200, r.text
    assert r.json()["result"] == pytest.approx([classes[1][1] for classes in result], abs=1e-6)
    # context features merge into each example, as in TF Serving
    r = client.post("/v1/models/taxi:regress", json={
        "signature_name": "regress", "context": {"company": "Sun Taxi", "trip_seconds": 400.0},
        "examples": [{"trip_miles": 2.0, "fare": 9.0, "payment_type": t} for t in PAYMENT_TYPES[:2]]})
    assert r.json()["result"] == pytest.approx([classes[1][1] for classes in result], abs=1e-6)
    # a TFX-style predict signature on serialized examples also serves regress
    r = client.post("/v1/models/taxi:regress", json={"examples": examples})
    assert r.json()["result"] == pytest.approx([classes[1][1] for classes in result], abs=1e-6)


def test_metrics_count_requests_per_model_and_version(client: httpx.Client) -> None:
    client.post("/v1/models/taxi:predict", json={"instances": [b64_example()]})
    client.post("/v1/models/taxi:predict", json={"instances": "oops"})
    text = client.get("/monitoring/prometheus/metrics").text
    assert 'penstock_serving_requests_total{api="predict",model="taxi",protocol="rest",version="2"}' in text
    assert 'penstock_serving_request_errors_total{api="predict",code="INVALID_ARGUMENT"' in text
    assert "penstock_serving_request_latency_seconds_bucket" in text


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/v1/models/nope:predict", {"instances": [1]}, 404, "model 'nope' is not served"),
    ("POST", "/v1/models/taxi/versions/7:predict", {"instances": [1]}, 404, "version 7 is not available"),
    ("POST", "/v1/models/taxi/labels/canary:predict", {"instances": [1]}, 404, "no version label 'canary'"),
    ("POST", "/v1/models/taxi/versions/x1:predict", {"instances": [1]}, 400, "not a non-negative integer"),
    ("POST", "/v1/models/..:predict", {"instances": [1]}, 400, "invalid model name"),
    ("POST", "/v1/models/taxi:explain", {}, 404, "unknown method"),
    ("GET", "/v1/models/taxi:predict", None, 405, "use POST"),
    ("POST", "/v1/models/taxi", {}, 405, "use GET"),
    ("GET", "/v2/whatever", None, 404, "Malformed request"),
    ("POST", "/v1/models/taxi:predict", {"instances": [1], "inputs": [1]}, 400, "exactly one of"),
    ("POST", "/v1/models/taxi:predict", {"signature_name": "nope", "instances": [1]}, 400, "no signature 'nope'"),
    ("POST", "/v1/models/taxi:predict", {"signature_name": "predict_raw", "instances": [{"trip_miles": 1.0}]},
     400, "missing input(s) 'trip_seconds'"),
    ("POST", "/v1/models/taxi:predict",
     {"signature_name": "predict_raw", "instances": [{**raw_instance(), "tips": 1.0}]}, 400, "unknown input(s) 'tips'"),
    ("POST", "/v1/models/taxi:predict",
     {"signature_name": "predict_raw", "instances": [{**raw_instance(), "fare": "cheap"}]}, 400,
     "input 'fare': expected DT_FLOAT, got strings"),
    ("POST", "/v1/models/taxi:predict",
     {"signature_name": "predict_raw", "instances": [{**raw_instance(), "company": 3}]}, 400,
     "input 'company': expected DT_STRING"),
    ("POST", "/v1/models/taxi:predict",
     {"signature_name": "predict_raw", "instances": [{**raw_instance(), "fare": [1.0, 2.0]}]}, 400,
     "input 'fare': expected shape [-1], got [1,2]"),
    ("POST", "/v1/models/taxi:predict", {"instances": [{"b64": "!!!"}]}, 400, "invalid base64"),
    ("POST", "/v1/models/taxi:predict", {"instances": [{"b64": "aGVsbG8="}]}, 400,
     "Could not parse example input"),
    ("POST", "/v1/models/taxi:classify", {"signature_name": "predict_raw", "examples": [{}]}, 400,
     "cannot serve Classify"),
    ("POST", "/v1/models/taxi:regress", {"signature_name": "regress", "examples": [{"fare": [[1]]}]}, 400,
     "feature 'fare'"),
    ("POST", "/v1/models/taxi:classify", {"signature_name": "classify", "examples": []}, 400, "non-empty"),
])
def test_bad_requests_get_4xx_with_a_clear_message(client: httpx.Client, method: str, path: str,
                                                   body: object, status: int, message: str) -> None:
    r = client.request(method, path, json=body) if body is not None else client.request(method, path)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_malformed_json_and_oversize_body(client: httpx.Client, taxi_server: ModelServer) -> None:
    r = client.post("/v1/models/taxi:predict", content=b'{"instances": [1,')
    assert r.status_code == 400 and "JSON Parse error" in r.json()["error"]
    limit = taxi_server.options.max_request_bytes
    r = client.post("/v1/models/taxi:predict", content=b"x" * (limit + 1))
    assert r.status_code == 413 and "exceeds the limit" in r.json()["error"]
    # the server still answers afterwards
    assert client.post("/v1/models/taxi:predict", json={"instances": [b64_example()]}).status_code == 200
