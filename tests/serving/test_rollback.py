"""Rollbacks and version-policy changes under a bounded client loop: deleting the newest version,
pinning an older one with a ``specific`` policy, moving a label and moving the base path never
leave the model without a loaded version, so not one request fails (TF Serving's
availability-preserving policy: the new set is loaded before the old is unloaded)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from _serving_models import push_version

from penstock.serving.config import ModelConfig, VersionPolicy
from penstock.serving.server import ModelServer
from tests._client_loop import MAX_REQUESTS, ClientLoop, running

ANSWERS = {2.0: 1, 3.0: 2}  # the TF1 pair: y(0) is the intercept, which tells the version


def _tf1_request(model: str, label: str | None) -> Any:
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if label:
        request.model_spec.version_label = label
    request.inputs["x"].dtype = 1
    request.inputs["x"].tensor_shape.dim.add(size=1)
    request.inputs["x"].tensor_shape.dim.add(size=1)
    request.inputs["x"].float_val.append(0.0)
    return request


@contextmanager
def clients(server: ModelServer, model: str, label: str | None = None) -> Iterator[ClientLoop]:
    """REST and gRPC clients calling the TF1 pair in a loop; the server stops with it (each test has its own)."""
    path = f"/v1/models/{model}" + (f"/labels/{label}" if label else "") + ":predict"
    loop = ClientLoop(server.rest_port, server.grpc_port, path, b'{"instances": [[0.0]]}',
                      lambda answer: ANSWERS[answer["predictions"][0][0]], _tf1_request(model, label))
    with running(loop, on_exit=server.stop):
        yield loop


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
