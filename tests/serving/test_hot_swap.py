"""Version polling under load: new versions swap in with no failed request, old ones unload only
after their in-flight requests, and half-written or corrupt versions never get served."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
from _serving_models import make_example, push_version

from penstock.serving.config import ModelConfig
from penstock.serving.server import ModelServer

DEADLINE_SECONDS = 60


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.05)


def available_versions(client: httpx.Client, name: str) -> list[int]:
    statuses = client.get(f"/v1/models/{name}").json()["model_version_status"]
    return [int(s["version"]) for s in statuses if s["state"] == "AVAILABLE"]


def version_states(client: httpx.Client, name: str) -> dict[int, dict[str, Any]]:
    statuses = client.get(f"/v1/models/{name}").json()["model_version_status"]
    return {int(s["version"]): s for s in statuses}


def test_hot_swap_of_five_versions_loses_no_request(tmp_path: Any, taxi_template: str,
                                                    start_server: Callable[..., ModelServer]) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    base = str(tmp_path / "taxi")
    push_version(taxi_template, base, 1)
    server = start_server([ModelConfig("taxi", base)], include_model_version=True)
    stop = threading.Event()
    failures: list[str] = []
    seen: dict[str, list[int]] = {"rest": [], "grpc": []}
    body = {"instances": [{"b64": __import__("base64").b64encode(make_example()).decode()}]}

    def rest_loop() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=10) as client:
            while not stop.is_set() and len(seen["rest"]) < 20000:
                r = client.post("/v1/models/taxi:predict", json=body)
                if r.status_code != 200:
                    failures.append(f"REST {r.status_code}: {r.text}")
                else:
                    seen["rest"].append(int(r.json()["model_version"]))

    def grpc_loop() -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "taxi"
        request.inputs["examples"].CopyFrom(tf.make_tensor_proto([make_example()]))
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not stop.is_set() and len(seen["grpc"]) < 20000:
                try:
                    seen["grpc"].append(stub.Predict(request, timeout=10).model_spec.version.value)
                except grpc.RpcError as e:
                    failures.append(f"gRPC {e.code()}: {e.details()}")

    clients = [threading.Thread(target=rest_loop), threading.Thread(target=grpc_loop)]
    for thread in clients:
        thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=10) as admin:
            for version in range(2, 7):
                time.sleep(0.3)  # let the clients run against the current version
                push_version(taxi_template, base, version)
                wait_until(lambda v=version: available_versions(admin, "taxi") == [v])  # type: ignore[misc]
            wait_until(lambda: seen["rest"][-1:] == [6] and seen["grpc"][-1:] == [6])
            states = version_states(admin, "taxi")
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=DEADLINE_SECONDS)
    assert failures == []
    for protocol, versions in seen.items():
        assert versions == sorted(versions), f"{protocol}: the answering version went backwards"
        assert versions[0] == 1 and versions[-1] == 6, protocol
        assert len(set(versions)) >= 3, f"{protocol}: saw only {sorted(set(versions))}"
    assert {v: s["state"] for v, s in states.items()} == {6: "AVAILABLE", 1: "END", 2: "END", 3: "END",
                                                           4: "END", 5: "END"}


def test_old_version_unloads_only_after_its_in_flight_requests(tmp_path: Any, taxi_template: str,
                                                               start_server: Callable[..., ModelServer]) -> None:
    base = str(tmp_path / "taxi")
    push_version(taxi_template, base, 1)
    server = start_server([ModelConfig("taxi", base)])
    registry = server.registry
    in_flight = registry.acquire("taxi")  # a request that started before the swap
    assert in_flight.version == 1
    push_version(taxi_template, base, 2)
    wait_until(lambda: registry.status("taxi")[0].version == 2 and registry.status("taxi")[0].state == "AVAILABLE")
    assert {s.version: s.state for s in registry.status("taxi")}[1] == "UNLOADING"
    with registry.acquire("taxi") as new:
        assert new.version == 2
    # the in-flight request can still run on version 1
    sig = in_flight.servable.signatures["serving_default"]
    import numpy as np

    assert sig.run({"examples": np.array([make_example()], dtype=object)}, ("outputs",))["outputs"].shape == (1,)
    in_flight.__exit__(None, None, None)
    assert {s.version: s.state for s in registry.status("taxi")}[1] == "END"


def test_half_written_and_corrupt_versions_are_not_served(tmp_path: Any, taxi_template: str,
                                                          start_server: Callable[..., ModelServer]) -> None:
    base = str(tmp_path / "taxi")
    push_version(taxi_template, base, 1)
    server = start_server([ModelConfig("taxi", base)], include_model_version=True)
    body = {"instances": [{"b64": __import__("base64").b64encode(make_example()).decode()}]}
    with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=10) as client:
        # version 2: copied in place, variables/ not there yet
        os.makedirs(os.path.join(base, "2"))
        shutil.copy(os.path.join(taxi_template, "saved_model.pb"), os.path.join(base, "2"))
        wait_until(lambda: "missing variables/" in version_states(client, "taxi").get(2, {}).get(
            "status", {}).get("error_message", ""))
        # version 3: complete-looking but the graph is garbage
        staging = os.path.join(base, ".incoming")
        shutil.copytree(taxi_template, staging)
        with open(os.path.join(staging, "saved_model.pb"), "wb") as f:
            f.write(b"\x00not a saved model" * 10)
        os.rename(staging, os.path.join(base, "3"))
        wait_until(lambda: "could not load" in version_states(client, "taxi").get(3, {}).get(
            "status", {}).get("error_message", ""))
        states = version_states(client, "taxi")
        assert states[1]["state"] == "AVAILABLE" and states[3]["state"] == "END"
        r = client.post("/v1/models/taxi:predict", json=body)
        assert r.status_code == 200 and r.json()["model_version"] == "1"
        assert client.post("/v1/models/taxi/versions/3:predict", json=body).status_code == 404
        # the copy of version 3 completes: it is retried and served
        shutil.copy(os.path.join(taxi_template, "saved_model.pb"), os.path.join(base, "3", "saved_model.pb"))
        wait_until(lambda: available_versions(client, "taxi") == [3])
        assert client.post("/v1/models/taxi:predict", json=body).json()["model_version"] == "3"
