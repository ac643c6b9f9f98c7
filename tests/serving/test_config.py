"""models.config parsing, several models in one server, version policies, labels, a traffic
split between two versions, and config-file reload."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _serving_models import make_example, push_version

from penstock.serving.config import VersionPolicy, parse_model_config_text, parse_traffic_split
from penstock.serving.errors import ServingConfigError
from penstock.serving.server import ModelServer

CONFIG = """
model_config_list {
  config {
    name: "taxi"
    base_path: "%(taxi)s"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config {
    name: "taxi_all"
    base_path: "%(taxi)s"
    model_version_policy { all {} }
  }
}
"""


def test_parse_model_config() -> None:
    configs = parse_model_config_text(CONFIG % {"taxi": "/models/taxi"}, "models.config")
    assert [c.name for c in configs] == ["taxi", "taxi_all"]
    assert configs[0].policy == VersionPolicy("specific", versions=(1, 2))
    assert configs[0].labels == {"stable": 1, "canary": 2}
    assert configs[1].policy.kind == "all"


@pytest.mark.parametrize(("text", "message"), [
    ("model_config_list { config { name: 'a' base_path: '/m' } ", "not a valid ModelServerConfig"),
    ("model_config_list { config { name: '../a' base_path: '/m' } }", "model name '../a' is not allowed"),
    ("model_config_list { config { name: 'a' base_path: '/m' } config { name: 'a' base_path: '/n' } }",
     "Illegal to list model a multiple times in config list"),
    ("model_config_list { config { name: 'a' } }", "has no base_path"),
    ("model_config_list { config { name: 'a' base_path: '/m' model_platform: 'pytorch' } }", "not supported"),
    ("model_config_list { }", "lists no models"),
])
def test_bad_model_config_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ServingConfigError, match="models.config") as info:
        parse_model_config_text(text, "models.config")
    assert message in str(info.value)


@pytest.mark.parametrize(("spec", "message"), [
    ("taxi", "expected MODEL=TARGET:WEIGHT"),
    ("taxi=stable", "has no ':WEIGHT'"),
    ("taxi=stable:x", "is not a number"),
    ("taxi=stable:0,canary:0", "sum to 0"),
    ("taxi=../x:1", "neither a version number nor a label"),
])
def test_bad_traffic_split(spec: str, message: str) -> None:
    with pytest.raises(ServingConfigError) as info:
        parse_traffic_split(spec)
    assert message in str(info.value)


@pytest.fixture(scope="module")
def config_server(tmp_path_factory: pytest.TempPathFactory, taxi_template: str,
                  start_server: Callable[..., ModelServer]) -> tuple[ModelServer, str]:
    root = tmp_path_factory.mktemp("config")
    base = str(root / "taxi")
    for version in (1, 2, 3):
        push_version(taxi_template, base, version)
    config_file = str(root / "models.config")
    with open(config_file, "w") as f:
        f.write(CONFIG % {"taxi": base})
    server = start_server(None, model_config_file=config_file, model_config_file_poll_wait_seconds=0.2,
                          traffic_splits=["taxi=stable:50,canary:50"], include_model_version=True)
    return server, config_file


def example_body() -> dict[str, Any]:
    import base64

    return {"instances": [{"b64": base64.b64encode(make_example()).decode()}]}


def test_policies_labels_and_traffic_split(config_server: tuple[ModelServer, str]) -> None:
    server, _ = config_server
    with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=10) as client:
        states = {s["version"]: s["state"] for s in client.get("/v1/models/taxi").json()["model_version_status"]}
        assert states == {"1": "AVAILABLE", "2": "AVAILABLE"}
        all_states = client.get("/v1/models/taxi_all").json()["model_version_status"]
        assert sorted(s["version"] for s in all_states) == ["1", "2", "3"]
        assert client.post("/v1/models/taxi/labels/stable:predict", json=example_body()).json()["model_version"] == "1"
        assert client.post("/v1/models/taxi/labels/canary:predict", json=example_body()).json()["model_version"] == "2"
        assert client.get("/v1/models/taxi/labels/canary/metadata").json()["model_spec"]["version"] == "2"
        # the model without a split serves its latest version
        assert client.post("/v1/models/taxi_all:predict", json=example_body()).json()["model_version"] == "3"
        answered = Counter(client.post("/v1/models/taxi:predict", json=example_body()).json()["model_version"]
                           for _ in range(100))
        assert set(answered) == {"1", "2"}
        assert 20 <= answered["1"] <= 80


def test_label_over_grpc(config_server: tuple[ModelServer, str]) -> None:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    server, _ = config_server
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "taxi"
    request.model_spec.version_label = "canary"
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto([make_example()]))
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert stub.Predict(request, timeout=10).model_spec.version.value == 2


def test_config_file_reload_adds_models_and_keeps_serving_on_a_bad_file(
        config_server: tuple[ModelServer, str]) -> None:
    server, config_file = config_server
    original = open(config_file).read()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=10) as client:
        with open(config_file, "w") as f:
            f.write("model_config_list { config { name: 'broken' ")
        time.sleep(0.8)
        assert client.post("/v1/models/taxi/labels/stable:predict", json=example_body()).status_code == 200
        base = server.registry.status("taxi")  # still configured
        assert base
        with open(config_file, "w") as f:
            f.write(original.replace('name: "taxi_all"', 'name: "taxi_new"'))
        os.utime(config_file)
        deadline = time.monotonic() + 30
        while client.post("/v1/models/taxi_new:predict", json=example_body()).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert client.get("/v1/models/taxi_all").status_code == 404
        assert client.post("/v1/models/taxi_new:predict", json=example_body()).json()["model_version"] == "3"


def test_labels_must_point_to_available_versions(tmp_path: Any, taxi_template: str,
                                                 start_server: Callable[..., ModelServer]) -> None:
    """TF Serving's rule: a label may only name a loaded version, unless
    --allow_version_labels_for_unavailable_models (then requests to it are NOT_FOUND until it loads)."""
    from penstock.serving.config import ModelConfig

    base = str(tmp_path / "taxi")
    push_version(taxi_template, base, 1)
    models = [ModelConfig("taxi", base, labels={"next": 2})]
    with pytest.raises(ServingConfigError, match="Request to assign label to version 2 of model taxi, which is not "
                                                  "currently available for inference"):
        start_server(models)
    server = start_server(models, allow_version_labels_for_unavailable_models=True)
    with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=10) as client:
        r = client.post("/v1/models/taxi/labels/next:predict", json=example_body())
        assert r.status_code == 404 and r.json()["error"] == "Servable not found for request: Specific(taxi, 2)"
