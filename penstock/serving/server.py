"""The model server: registry + poller + REST (uvicorn) + gRPC, started and stopped together.

``ModelServer.start()`` loads the versions present at start (so the server is ready when it
returns), then opens both ports; ``stop()`` closes them and unloads everything. Port 0 picks a
free port (``rest_port`` / ``grpc_port`` tell which). Loopback only unless a host is given.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from penstock.serving.batching import BatchingOptions
from penstock.serving.config import ModelConfig, attach_traffic_splits, load_model_config_file
from penstock.serving.errors import ServingConfigError
from penstock.serving.metrics import ServingMetrics
from penstock.serving.model_registry import ModelRegistry
from penstock.serving.servable import Servable, load_servable

log = logging.getLogger("penstock.serving")

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    rest_port: int | None = 8501  # None: no REST server
    grpc_port: int | None = 8500  # None: no gRPC server
    file_system_poll_wait_seconds: float = 1.0
    model_config_file: str | None = None
    model_config_file_poll_wait_seconds: float = 0.0  # 0: read the config file once
    traffic_splits: list[str] = field(default_factory=list)
    batching: BatchingOptions | None = field(default_factory=BatchingOptions)
    enable_model_warmup: bool = True
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    grpc_max_concurrent_rpcs: int = 1024


class ModelServer:
    def __init__(self, models: list[ModelConfig] | None, options: ServerOptions) -> None:
        if models is None:
            if not options.model_config_file:
                raise ServingConfigError("give --model-name and --model-base-path, or --model-config-file")
            models = load_model_config_file(options.model_config_file)
        self.options = options
        self.models = attach_traffic_splits(models, options.traffic_splits)
        self.metrics = ServingMetrics()
        self.registry = ModelRegistry(
            self.models, self._load, batching=options.batching, on_batch=self.metrics.observe_batch)
        self.rest_port: int | None = None
        self.grpc_port: int | None = None
        self._uvicorn: Any = None
        self._rest_thread: threading.Thread | None = None
        self._grpc: Any = None
        self._config_mtime: float | None = None

    def _load(self, name: str, version: int, path: str) -> Servable:
        return load_servable(name, version, path, warmup=self.options.enable_model_warmup)

    def start(self) -> ModelServer:
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        if self.options.model_config_file:
            self._config_mtime = _mtime(self.options.model_config_file)
        self.registry.poll_once()
        self.registry.start_polling(self.options.file_system_poll_wait_seconds, self._maybe_reload_config)
        if self.options.grpc_port is not None:
            self._start_grpc()
        if self.options.rest_port is not None:
            self._start_rest()
        return self

    def _start_grpc(self) -> None:
        from penstock.serving.grpc_service import GrpcServer

        address = f"{_bracket(self.options.host)}:{self.options.grpc_port}"
        self._grpc = GrpcServer(self.registry, self.metrics, address, self.options.grpc_max_concurrent_rpcs,
                                self.options.max_request_bytes)
        try:
            self.grpc_port = self._grpc.start()
        except (OSError, RuntimeError) as e:
            raise ServingConfigError(f"gRPC port: cannot listen on {address}: {e}") from None
        log.info("gRPC API on %s:%d", self.options.host, self.grpc_port)

    def _start_rest(self) -> None:
        import uvicorn

        from penstock.serving.rest import RestApp

        family = socket.AF_INET6 if ":" in self.options.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.options.host, self.options.rest_port or 0))
        except OSError as e:
            sock.close()
            raise ServingConfigError(
                f"--rest-api-port: cannot listen on {self.options.host}:{self.options.rest_port}: {e.strerror}"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rest_port = sock.getsockname()[1]
        app = RestApp(self.registry, self.metrics, self.options.max_request_bytes)
        config = uvicorn.Config(
            app, http="httptools", loop="uvloop", lifespan="off", access_log=False, log_config=None,
            log_level="warning", timeout_keep_alive=30, backlog=2048,
            # X-Forwarded-For rewriting is for servers behind a proxy; it costs every request
            proxy_headers=False, server_header=False, date_header=False,
        )
        self._uvicorn = uvicorn.Server(config)
        self._rest_thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [sock]}, name="penstock-rest", daemon=True)
        self._rest_thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started:
            if not self._rest_thread.is_alive() or time.monotonic() > deadline:
                raise ServingConfigError(f"the REST server did not start on {self.options.host}:{self.rest_port}")
            time.sleep(0.01)
        log.info("REST API on http://%s:%d", self.options.host, self.rest_port)

    def _maybe_reload_config(self) -> None:
        path = self.options.model_config_file
        if not path or self.options.model_config_file_poll_wait_seconds <= 0:
            return
        mtime = _mtime(path)
        if mtime is None or mtime == self._config_mtime:
            return
        self._config_mtime = mtime
        try:
            models = attach_traffic_splits(load_model_config_file(path), self.options.traffic_splits)
        except ServingConfigError as e:
            log.error("%s; keeping the current config", e)
            return
        log.info("model config file %s changed: applying it", path)
        self.models = models
        self.registry.set_configs(models)

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
            if self._rest_thread is not None:
                self._rest_thread.join(timeout=10)
        if self._grpc is not None:
            self._grpc.stop(grace=2)
        self.registry.stop()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime_ns / 1e9
    except OSError:
        return None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
