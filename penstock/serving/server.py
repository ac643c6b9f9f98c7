"""The model server: registry + pollers + REST (uvicorn) + gRPC, started and stopped together.

``ModelServer.start()`` loads the versions present at start (so the server is ready when it
returns), checks the version labels against them, then opens the ports; ``stop()`` closes them and
unloads everything. In this Python API a port of 0 picks a free port (``rest_port`` /
``grpc_port`` tell which) and None leaves the protocol off; the command line maps TF Serving's
flags onto it (there 0 means off). Loopback only unless a host is given.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from penstock.serving import storage, warmup
from penstock.serving.batching import BatchingOptions
from penstock.serving.config import (
    ModelConfig,
    MonitoringOptions,
    attach_traffic_splits,
    load_model_config_file,
    model_configs_from_proto,
)
from penstock.serving.errors import ServingConfigError
from penstock.serving.metrics import ServingMetrics
from penstock.serving.model_registry import ModelRegistry
from penstock.serving.servable import LoadOptions, Servable, load_servable

log = logging.getLogger("penstock.serving")

INT32_MAX = 2**31 - 1


@dataclass
class ServerOptions:
    host: str = "127.0.0.1"
    rest_port: int | None = 8501  # None: no REST server; 0: any free port
    grpc_port: int | None = 8500  # None: no gRPC port; 0: any free port
    grpc_socket_path: str | None = None  # also (or only) listen on this UNIX socket
    file_system_poll_wait_seconds: float = 1.0  # 0: look once at start; < 0: never
    model_config_file: str | None = None
    model_config_file_poll_wait_seconds: float = 0.0  # 0: read the config file once
    traffic_splits: list[str] = field(default_factory=list)
    batching: BatchingOptions | None = None  # None: no batching (TF Serving's default)
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    max_request_bytes: int = INT32_MAX
    grpc_max_concurrent_rpcs: int | None = None
    grpc_channel_arguments: list[tuple[str, int | str]] = field(default_factory=list)
    grpc_credentials: Any = None  # grpc.ServerCredentials; None: insecure
    rest_timeout_ms: int = 30000
    rest_cors: bool = False
    monitoring: MonitoringOptions = field(default_factory=MonitoringOptions)
    saved_model_tags: tuple[str, ...] = ("serve",)
    session_config: Any = None  # tensorflow ConfigProto
    allow_version_labels_for_unavailable_models: bool = False
    enable_grpc_healthcheck_service: bool = False
    tensor_content: bool = False  # --enable_serialization_as_tensor_content
    method_name_check: bool = False  # --enable_signature_method_name_check
    lenient_example_signatures: bool = False  # penstock: classify/regress on TFX-style predict signatures
    include_model_version: bool = False  # penstock: "model_version" in REST inference responses
    model_threads: int = max(4, 4 * (os.cpu_count() or 1))  # threads running model calls


class ModelServer:
    def __init__(self, models: list[ModelConfig] | None, options: ServerOptions) -> None:
        if models is None:
            if not options.model_config_file:
                raise ServingConfigError("give --model_name and --model_base_path, or --model_config_file")
            models = load_model_config_file(options.model_config_file)
        self.options = options
        self.models = attach_traffic_splits(models, options.traffic_splits)
        self.metrics = ServingMetrics()
        self.executor = ThreadPoolExecutor(max_workers=options.model_threads, thread_name_prefix="penstock-model")
        self.registry = ModelRegistry(
            self.models, self._load, self.executor, batching=options.batching,
            on_batch=self._observe_batch, on_runtime=self.metrics.observe_runtime,
            allow_labels_for_unavailable=options.allow_version_labels_for_unavailable_models)
        self._load_options = LoadOptions(options.saved_model_tags, options.session_config, options.method_name_check,
                                         options.lenient_example_signatures)
        self.rest_port: int | None = None
        self.grpc_port: int | None = None
        self._uvicorn: Any = None
        self._rest_thread: threading.Thread | None = None
        self._grpc: Any = None
        self._config_mtime: float | None = None
        self._config_lock = threading.Lock()
        self._stop = threading.Event()
        self._config_thread: threading.Thread | None = None

    def _load(self, name: str, version: int, path: str) -> Servable:
        local = storage.local_version(path)  # a version on an object store is loaded from a local copy
        try:
            servable = load_servable(name, version, local, self._load_options)
        except BaseException:
            storage.release_local_version(path, local)
            raise
        servable.source_path = path
        if self.options.enable_model_warmup and os.path.exists(warmup.warmup_path(servable)):
            start = time.monotonic()
            try:
                records = warmup.replay(servable, self.options.num_request_iterations_for_warmup)
            except BaseException as e:
                self.metrics.observe_warmup(path, type(e).__name__, time.monotonic() - start, 0)
                servable.close()
                raise
            self.metrics.observe_warmup(path, "OK", time.monotonic() - start, records)
            log.info("model %s version %s: replayed %d warmup request(s)", name, version, records)
        return servable

    def _observe_batch(self, model: str, version: int, signature: str, rows: int, waits: list[float]) -> None:
        self.metrics.observe_batch(model, version, signature, rows, waits)

    def start(self) -> ModelServer:
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        if self.options.model_config_file:
            self._config_mtime = _mtime(self.options.model_config_file)
        self.registry.poll_once()
        try:
            self.registry.check_labels(self.models)
            if self.options.file_system_poll_wait_seconds > 0:
                self.registry.start_polling(self.options.file_system_poll_wait_seconds)
            if self.options.model_config_file and self.options.model_config_file_poll_wait_seconds > 0:
                self._config_thread = threading.Thread(target=self._poll_config, name="penstock-config-poller",
                                                       daemon=True)
                self._config_thread.start()
            if self.options.grpc_port is not None or self.options.grpc_socket_path:
                self._start_grpc()
            if self.options.rest_port is not None:
                self._start_rest()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_grpc(self) -> None:
        from penstock.serving.grpc_service import GrpcOptions, GrpcServer

        addresses = []
        if self.options.grpc_port is not None:
            addresses.append(f"{_bracket(self.options.host)}:{self.options.grpc_port}")
        if self.options.grpc_socket_path:
            addresses.append(f"unix:{self.options.grpc_socket_path}")
        grpc_options = GrpcOptions(
            addresses=addresses, max_concurrent_rpcs=self.options.grpc_max_concurrent_rpcs,
            channel_arguments=self.options.grpc_channel_arguments, tensor_content=self.options.tensor_content,
            health=self.options.enable_grpc_healthcheck_service, credentials=self.options.grpc_credentials)
        self._grpc = GrpcServer(self.registry, self.metrics, grpc_options, self.reload_config)
        try:
            ports = self._grpc.start()
        except (OSError, RuntimeError) as e:
            raise ServingConfigError(f"gRPC: cannot listen on {', '.join(addresses)}: {e}") from None
        if self.options.grpc_port is not None:
            self.grpc_port = ports[0]
        log.info("gRPC API on %s", ", ".join(addresses))

    def _start_rest(self) -> None:
        import uvicorn

        from penstock.serving.http_protocol import OneWriteHttpToolsProtocol
        from penstock.serving.rest import RestApp, RestOptions

        family = socket.AF_INET6 if ":" in self.options.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.options.host, self.options.rest_port or 0))
        except OSError as e:
            sock.close()
            raise ServingConfigError(
                f"--rest_api_port: cannot listen on {self.options.host}:{self.options.rest_port}: {e.strerror}"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rest_port = sock.getsockname()[1]
        monitoring = self.options.monitoring
        app = RestApp(self.registry, self.metrics, RestOptions(
            max_request_bytes=self.options.max_request_bytes, timeout_ms=self.options.rest_timeout_ms,
            cors=self.options.rest_cors, metrics_path=monitoring.path if monitoring.prometheus_enabled else None,
            include_model_version=self.options.include_model_version))
        config = uvicorn.Config(
            app, http=OneWriteHttpToolsProtocol, loop="uvloop", lifespan="off", access_log=False, log_config=None,
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

    # ---- reconfiguration --------------------------------------------------------------------

    def apply_configs(self, configs: list[ModelConfig]) -> None:
        """Take a new model list (file reload or HandleReloadConfigRequest): labels are checked
        against what serves now, then new models and versions are loaded before this returns;
        versions leaving the config are unloaded only once their replacements serve."""
        with self._config_lock:
            configs = attach_traffic_splits(configs, self.options.traffic_splits)
            self.registry.check_labels(configs)
            self.registry.set_configs(configs)
            self.models = configs
            self.registry.poll_once()

    def reload_config(self, proto: Any) -> None:
        self.apply_configs(model_configs_from_proto(proto, "HandleReloadConfigRequest"))

    def _poll_config(self) -> None:
        while not self._stop.wait(self.options.model_config_file_poll_wait_seconds):
            path = self.options.model_config_file
            assert path is not None
            mtime = _mtime(path)
            if mtime is None or mtime == self._config_mtime:
                continue
            self._config_mtime = mtime
            try:
                self.apply_configs(load_model_config_file(path))
                log.info("model config file %s changed: applied", path)
            except ServingConfigError as e:
                log.error("%s; keeping the current config", e)
            except Exception:  # the poller must survive anything a config file does
                log.exception("applying model config file %s failed", path)

    def stop(self) -> None:
        self._stop.set()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
            if self._rest_thread is not None:
                self._rest_thread.join(timeout=10)
        if self._grpc is not None:
            self._grpc.stop(grace=2)
        if self._config_thread is not None:
            self._config_thread.join(timeout=30)
        self.registry.stop()
        self.executor.shutdown(wait=False)

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
