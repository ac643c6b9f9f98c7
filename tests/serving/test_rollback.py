"""Rollbacks and version-policy changes under a bounded client loop: deleting the newest version,
pinning an older one with a ``specific`` policy, moving a label and moving the base path never
leave the model without a loaded version, so not one request fails (TF Serving's
availability-preserving policy: the new set is loaded before the old is unloaded)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import httpx
import pytest
from _serving_models import push_version

from penstock.serving.config import ModelConfig, VersionPolicy
from penstock.serving.server import ModelServer

MAX_REQUESTS = 20000  # per client: the loop is bounded even if a condition never comes
ANSWERS = {2.0: 1, 3.0: 2}  # the TF1 pair: y(0) is the intercept, which tells the version


class Clients:
    """REST and gRPC clients calling ``path``'s model in a loop, recording every answer and failure."""

    def __init__(self, server: ModelServer, model: str, label: str | None = None) -> None:
        self.server, self.model, self.label = server, model, label
        self.failures: list[str] = []
        self.versions: dict[str, list[int]] = {"rest": [], "grpc": []}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._rest), threading.Thread(target=self._grpc)]

    def _rest(self) -> None:
        path = f"/v1/models/{self.model}" + (f"/labels/{self.label}" if self.label else "") + ":predict"
        with httpx.Client(base_url=f"http://127.0.0.1:{self.server.rest_port}", timeout=30) as client:
            while not self._stop.is_set() and len(self.versions["rest"]) < MAX_REQUESTS:
                r = client.post(path, content=b'{"instances": [[0.0]]}')
                if r.status_code != 200:
                    self.failures.append(f"REST {r.status_code}: {r.text[:200]}")
                else:
                    self.versions["rest"].append(ANSWERS[r.json()["predictions"][0][0]])

    def _grpc(self) -> None:
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        if self.label:
            request.model_spec.version_label = self.label
        request.inputs["x"].dtype = 1
        request.inputs["x"].tensor_shape.dim.add(size=1)
        request.inputs["x"].tensor_shape.dim.add(size=1)
        request.inputs["x"].float_val.append(0.0)
        with grpc.insecure_channel(f"127.0.0.1:{self.server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self._stop.is_set() and len(self.versions["grpc"]) < MAX_REQUESTS:
                try:
                    response = stub.Predict(request, timeout=30)
                    self.versions["grpc"].append(response.model_spec.version.value)
                except grpc.RpcError as e:
                    self.failures.append(f"gRPC {e.code()}: {e.details()}")

    def wait_for(self, version: int, timeout: float = 60) -> None:
        """Until both clients got an answer from ``version`` after this call."""
        start = {k: len(v) for k, v in self.versions.items()}
        deadline = time.monotonic() + timeout
        while not all(version in v[start[k]:] for k, v in self.versions.items()):
            assert time.monotonic() < deadline, f"no answer from version {version}; failures: {self.failures[:3]}"
            assert all(len(v) < MAX_REQUESTS for v in self.versions.values()), "request budget used up"
            time.sleep(0.05)


@contextmanager
def clients(server: ModelServer, model: str, label: str | None = None) -> Iterator[Clients]:
    """The client loop for one test; the server stops with it (each test has its own)."""
    loop = Clients(server, model, label)
    for thread in loop._threads:
        thread.start()
    try:
        yield loop
    finally:
        loop._stop.set()
        for thread in loop._threads:
            thread.join(timeout=60)
        server.stop()


@pytest.fixture()
def pair_base(tmp_path: Any, tf1_templates: dict[int, str]) -> str:
    base = str(tmp_path / "pair")
    push_version(tf1_templates[1], base, 1)
    push_version(tf1_templates[2], base, 2)
    return base


def test_deleting_the_newest_version_drops_nothing(pair_base: str, start_server: Callable[..., ModelServer]) -> None:
    server = start_server([ModelConfig("pair", pair_base)])
    with clients(server, "pair") as loop:
        loop.wait_for(2)
        shutil.rmtree(f"{pair_base}/2")  # roll back: version 1 is the latest on disk again
        loop.wait_for(1)
        states = {s.version: s.state for s in server.registry.status("pair")}
        assert states[1] == "AVAILABLE" and states[2] in ("UNLOADING", "END")
    assert loop.failures == []


def test_pinning_an_older_version_drops_nothing(pair_base: str, start_server: Callable[..., ModelServer]) -> None:
    server = start_server([ModelConfig("pair", pair_base)])
    with clients(server, "pair") as loop:
        loop.wait_for(2)
        server.apply_configs([ModelConfig("pair", pair_base, VersionPolicy("specific", versions=(1,)))])
        loop.wait_for(1)
        # and forward again, through the config file path's code
        server.apply_configs([ModelConfig("pair", pair_base, VersionPolicy("specific", versions=(2,)))])
        loop.wait_for(2)
    assert loop.failures == []


def test_moving_a_label_drops_nothing(pair_base: str, start_server: Callable[..., ModelServer]) -> None:
    both = VersionPolicy("specific", versions=(1, 2))
    server = start_server([ModelConfig("pair", pair_base, both, labels={"stable": 1})])
    with clients(server, "pair", label="stable") as loop:
        loop.wait_for(1)
        server.apply_configs([ModelConfig("pair", pair_base, both, labels={"stable": 2})])
        loop.wait_for(2)
        # the documented two-step retirement of version 1: policy to {2}, label already moved
        server.apply_configs([ModelConfig("pair", pair_base, VersionPolicy("specific", versions=(2,)),
                                          labels={"stable": 2})])
        loop.wait_for(2)
    assert loop.failures == []


def test_moving_the_base_path_drops_nothing(pair_base: str, tmp_path: Any, tf1_templates: dict[int, str],
                                            start_server: Callable[..., ModelServer]) -> None:
    elsewhere = str(tmp_path / "elsewhere")
    push_version(tf1_templates[1], elsewhere, 2)  # the same version number, another model
    server = start_server([ModelConfig("pair", pair_base)])
    with clients(server, "pair") as loop:
        loop.wait_for(2)
        server.apply_configs([ModelConfig("pair", elsewhere)])
        deadline = time.monotonic() + 60
        while 1 not in loop.versions["rest"][-5:]:  # version 2 from the new path: the intercept of model v1
            assert time.monotonic() < deadline and len(loop.versions["rest"]) < MAX_REQUESTS
            time.sleep(0.05)
    assert loop.failures == []
