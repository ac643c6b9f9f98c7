"""Serving fixtures: test SavedModels built once per session (a taxi-like TF2 Keras model, a TF1
Builder model, a TF2 all-dtypes echo, a batch-dependent model), copied into TF Serving layouts
(``<base>/<name>/<version>/``), and real servers on loopback with free ports, stopped when their
module ends."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _serving_models import (
    build_taxi_like_saved_model,
    build_tf1_linear_model,
    build_tf2_batch_dependent_model,
    build_tf2_dtypes_model,
    push_version,
)

from penstock.serving.config import ModelConfig, MonitoringOptions
from penstock.serving.server import ModelServer, ServerOptions


@pytest.fixture(scope="session")
def taxi_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SavedModel directory (not a version) to copy versions from."""
    return build_taxi_like_saved_model(str(tmp_path_factory.mktemp("taxi_template") / "model"))


@pytest.fixture(scope="session")
def tf1_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """Two TF1 Builder models that tell which version answered: v1 is y = 0.5x + 2, v2 y = 0.5x + 3."""
    root = tmp_path_factory.mktemp("tf1_templates")
    return {1: build_tf1_linear_model(str(root / "v1"), intercept=2.0),
            2: build_tf1_linear_model(str(root / "v2"), intercept=3.0)}


@pytest.fixture(scope="session")
def dtypes_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tf2_dtypes_model(str(tmp_path_factory.mktemp("dtypes_template") / "model"))


@pytest.fixture(scope="session")
def centered_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tf2_batch_dependent_model(str(tmp_path_factory.mktemp("centered_template") / "model"))


@pytest.fixture(scope="module")
def channel(grpc_server: ModelServer) -> Iterator[Any]:
    """A gRPC channel to the module's ``grpc_server`` (a fixture each gRPC test module defines)."""
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{grpc_server.grpc_port}") as ch:
        yield ch


@pytest.fixture(scope="module")
def stub(channel: Any) -> Any:
    """TF Serving's own PredictionService client stub on ``channel``."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def server_options(**overrides: object) -> ServerOptions:
    options = ServerOptions(rest_port=0, grpc_port=0, file_system_poll_wait_seconds=0.2,
                            monitoring=MonitoringOptions(prometheus_enabled=True), model_threads=8)
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


@pytest.fixture(scope="module")
def start_server() -> Iterator[Callable[..., ModelServer]]:
    """Start servers for a module's tests; all are stopped when the module ends."""
    started: list[ModelServer] = []

    def start(models: list[ModelConfig] | None, **overrides: object) -> ModelServer:
        server = ModelServer(models, server_options(**overrides)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def taxi_server(tmp_path_factory: pytest.TempPathFactory, taxi_template: str,
                start_server: Callable[..., ModelServer]) -> ModelServer:
    """Model 'taxi' with versions 1 and 2 on disk; the default policy serves the latest (2)."""
    base = str(tmp_path_factory.mktemp("serving") / "taxi")
    push_version(taxi_template, base, 1)
    push_version(taxi_template, base, 2)
    return start_server([ModelConfig("taxi", base)], max_request_bytes=1 << 20)
