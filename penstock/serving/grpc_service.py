"""TF Serving's gRPC API: ``tensorflow.serving.PredictionService`` (Predict, Classify, Regress,
MultiInference, GetModelMetadata), ``tensorflow.serving.ModelService`` (GetModelStatus,
HandleReloadConfigRequest) and, with ``--enable_grpc_healthcheck_service``, ``grpc.health.v1``,
on the servicer base classes generated from tensorflow-serving-api's protos, so TF Serving's own
client stubs work unchanged.

Predict fills the typed value fields of its output tensors (``float_val``, ``int64_val``, ...) as
TF Serving does by default (``--enable_serialization_as_tensor_content`` switches to
``tensor_content``). Messages up to INT32_MAX bytes are accepted, as in TF Serving.

The server is grpc.aio on one event loop thread per process: a request waiting for its batch costs
a coroutine, not one of a few dozen threads fighting over the GIL. This module imports TensorFlow's
protos at import time; penstock.serving.server imports it only when gRPC is started.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from penstock.serving import inference, tensor_proto
from penstock.serving._protos import HEALTH_STATUS, message_class
from penstock.serving.errors import RequestError, invalid
from penstock.serving.metrics import ServingMetrics
from penstock.serving.model_registry import Handle, ModelRegistry

log = logging.getLogger("penstock.serving")

T = TypeVar("T")
STATE_NUMBERS = {"UNKNOWN": 0, "START": 10, "LOADING": 20, "AVAILABLE": 30, "UNLOADING": 40, "END": 50}
CODES = {code.name: code for code in grpc.StatusCode}
INT32_MAX = 2**31 - 1
# what TF Serving's health service reports SERVING for ("" is the server as a whole)
HEALTH_SERVICES = ("", "ModelService", "PredictionService")

ReloadConfig = Callable[[Any], None]  # applies a ModelServerConfig message; raises ServingConfigError


@dataclass
class GrpcOptions:
    addresses: list[str] = field(default_factory=list)  # "host:port" or "unix:/path"
    max_concurrent_rpcs: int | None = None
    channel_arguments: list[tuple[str, int | str]] = field(default_factory=list)
    tensor_content: bool = False  # --enable_serialization_as_tensor_content
    health: bool = False  # --enable_grpc_healthcheck_service
    credentials: Any = None  # grpc.ServerCredentials (--ssl_config_file) or None: insecure


def _error_code_number(name: str) -> int:
    return CODES[name].value[0] if name in CODES else 2  # UNKNOWN


class _Service:
    """What the servicers share: the registry, the metrics, and the request wrapper."""

    def __init__(self, registry: ModelRegistry, metrics: ServingMetrics, options: GrpcOptions) -> None:
        self.registry = registry
        self.metrics = metrics
        self.options = options

    async def call(self, api: str, spec: Any, context: Any, body: Callable[[Handle], Awaitable[T]],
                   counted: bool = True) -> T:
        """Run ``body`` on the version ``spec`` asks for; TF Serving's status codes and metrics."""
        start = time.perf_counter()
        code = "OK"
        try:
            if not spec.name:
                raise invalid("ModelSpec has no name specified.")
            version = spec.version.value if spec.HasField("version") else None
            with self.registry.acquire(spec.name, version, spec.version_label or None) as handle:
                return await body(handle)
        except RequestError as e:
            code = e.code
            log.info("gRPC %s %s -> %s: %s", api, spec.name[:80], e.code, e.message[:500])
            await context.abort(CODES.get(e.code, grpc.StatusCode.UNKNOWN), e.grpc_message)
            raise  # not reached: abort raises
        except Exception as e:
            if isinstance(e, asyncio.CancelledError) or type(e).__name__ == "AbortError":
                raise
            code = "INTERNAL"
            log.exception("gRPC %s %s -> INTERNAL", api, spec.name[:80])
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}: {e}")
            raise
        finally:
            if counted:  # as TF Serving: Predict, Classify and Regress are counted
                model = spec.name if self.registry.is_known(spec.name) else ""
                self.metrics.observe_request(model, api, "GRPC", time.perf_counter() - start, code)


def _fill_spec(spec: Any, name: str, version: int, signature_name: str | None) -> None:
    spec.name = name
    spec.version.value = version
    if signature_name is not None:
        spec.signature_name = signature_name


def _fill_classification(result: Any, classified: inference.Classified) -> None:
    for row in classified.rows():
        classes = result.classifications.add().classes
        for label, score in row:
            classes.add(label=label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label),
                        score=score)


def _fill_regression(result: Any, regressed: inference.Regressed) -> None:
    for value in regressed.values.tolist():
        result.regressions.add(value=value)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, service: _Service) -> None:
        self.service = service

    async def Predict(self, request: Any, context: Any) -> Any:
        spec = request.model_spec

        async def body(handle: Handle) -> Any:
            inputs = {key: tensor_proto.to_array(proto, key) for key, proto in request.inputs.items()}
            predicted = await inference.predict(handle.servable, spec.signature_name, inputs,
                                                list(request.output_filter), handle.run)
            response = predict_pb2.PredictResponse()
            _fill_spec(response.model_spec, spec.name, handle.version, predicted.signature_name)
            for key, array in predicted.outputs.items():
                tensor_proto.fill_proto(response.outputs[key], array, self.service.options.tensor_content)
            return response
        return await self.service.call("Predict", spec, context, body)

    async def Classify(self, request: Any, context: Any) -> Any:
        return await self._on_examples("Classify", request, context, classification_pb2.ClassificationResponse,
                                       _fill_classification)

    async def Regress(self, request: Any, context: Any) -> Any:
        return await self._on_examples("Regress", request, context, regression_pb2.RegressionResponse,
                                       _fill_regression)

    async def _on_examples(self, api: str, request: Any, context: Any, response_class: Any,
                           fill: Callable[[Any, Any], None]) -> Any:
        spec = request.model_spec
        method = inference.classify if api == "Classify" else inference.regress

        async def body(handle: Handle) -> Any:
            result = await method(handle.servable, spec.signature_name,
                                  tensor_proto.serialized_examples(request.input), handle.run)
            response = response_class()
            _fill_spec(response.model_spec, spec.name, handle.version, result.signature_name)
            fill(response.result, result)
            return response
        return await self.service.call(api, spec, context, body)

    async def MultiInference(self, request: Any, context: Any) -> Any:
        if not request.tasks:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Expected at least one task")
        spec = request.tasks[0].model_spec

        async def body(handle: Handle) -> Any:
            examples = tensor_proto.serialized_examples(request.input)
            results = await inference.multi_inference(handle.servable, tensor_proto.tasks(request), examples,
                                                      handle.run)
            self.service.metrics.observe_examples(spec.name, len(examples))
            response = inference_pb2.MultiInferenceResponse()
            for task, result in zip(request.tasks, results):
                entry = response.results.add()
                _fill_spec(entry.model_spec, task.model_spec.name, handle.version, result.signature_name)
                if isinstance(result, inference.Classified):
                    _fill_classification(entry.classification_result, result)
                else:
                    _fill_regression(entry.regression_result, result)
            return response
        return await self.service.call("MultiInference", spec, context, body, counted=False)

    async def GetModelMetadata(self, request: Any, context: Any) -> Any:
        async def body(handle: Handle) -> Any:
            if not request.metadata_field:
                raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
            for name in request.metadata_field:
                if name != "signature_def":
                    raise invalid(f"Metadata field {name} is not supported")
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            _fill_spec(response.model_spec, handle.servable.name, handle.version, None)
            response.metadata["signature_def"].Pack(handle.servable.signature_def_map)
            return response
        if not request.HasField("model_spec"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        return await self.service.call("GetModelMetadata", request.model_spec, context, body, counted=False)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, service: _Service, reload_config: ReloadConfig | None) -> None:
        self.service = service
        self.reload_config = reload_config

    async def GetModelStatus(self, request: Any, context: Any) -> Any:
        if not request.HasField("model_spec"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        spec = request.model_spec
        try:
            statuses = self.service.registry.status(spec.name, spec.version.value if spec.HasField("version") else None)
        except RequestError as e:
            await context.abort(CODES[e.code], e.grpc_message)
            raise
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in statuses:
            entry = response.model_version_status.add()
            entry.version = status.version
            entry.state = STATE_NUMBERS[status.state]
            entry.status.error_code = _error_code_number(status.error_code)
            entry.status.error_message = status.error_message
        return response

    async def HandleReloadConfigRequest(self, request: Any, context: Any) -> Any:
        """Apply a ModelServerConfig; answers once the new models are loaded (as TF Serving)."""
        from penstock.serving.errors import ServingConfigError

        response = model_management_pb2.ReloadConfigResponse()
        if request.config.WhichOneof("config") != "model_config_list":
            message = ("ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is "
                       "currently supported")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
        reload_config = self.reload_config
        if reload_config is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this server cannot be reconfigured")
            raise AssertionError("not reached")
        before = self._metric_values(request.metric_names)
        try:
            await asyncio.get_running_loop().run_in_executor(None, reload_config, request.config)
        except ServingConfigError as e:
            log.error("ReloadConfig failed: %s", e)
            await context.abort(CODES.get(e.code, grpc.StatusCode.INVALID_ARGUMENT), str(e)[:1024])
        after = self._metric_values(request.metric_names)
        for name in request.metric_names:
            response.metric.add(name=name, int64_value_increase=after[name] - before[name])
        response.status.error_code = 0
        return response

    def _metric_values(self, names: Any) -> dict[str, int]:
        counters = {m.name: m for m in (self.service.metrics.request_count, self.service.metrics.wrapped_run_count,
                                        self.service.metrics.example_count_total, self.service.metrics.warmup_records)}
        values = {}
        for name in names:
            counter = counters.get(":" + name.strip("/").replace("/", ":"))
            cells = sorted(counter.cells.items()) if counter is not None else []
            values[name] = cells[0][1] if cells else 0
        return values


def _health_handler() -> Any:
    """grpc.health.v1.Health: SERVING for the server and its two services, as TF Serving sets them."""
    request_class = message_class("grpc.health.v1.HealthCheckRequest")
    response_class = message_class("grpc.health.v1.HealthCheckResponse")

    async def check(request: Any, context: Any) -> Any:
        if request.service not in HEALTH_SERVICES:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return response_class(status=HEALTH_STATUS["SERVING"])

    async def watch(request: Any, context: Any) -> Any:
        known = request.service in HEALTH_SERVICES
        yield response_class(status=HEALTH_STATUS["SERVING" if known else "SERVICE_UNKNOWN"])
        await asyncio.Event().wait()  # the status never changes while the server runs

    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(check, request_class.FromString,
                                                     response_class.SerializeToString),
        "Watch": grpc.unary_stream_rpc_method_handler(watch, request_class.FromString,
                                                      response_class.SerializeToString),
    })


_loop_lock = threading.Lock()
_shared_loop: asyncio.AbstractEventLoop | None = None


def _grpc_loop() -> asyncio.AbstractEventLoop:
    """The one event loop all gRPC servers of the process run on. grpc.aio binds its completion
    queue to every loop that serves; with several loops in one process (several servers, as in
    tests or an InfraValidator next to a server) they steal each other's wake-ups (grpc/grpc#25364)."""
    global _shared_loop
    with _loop_lock:
        if _shared_loop is None or _shared_loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="penstock-grpc", daemon=True).start()
            _shared_loop = loop
        return _shared_loop


class GrpcServer:
    """A grpc.aio server with the services, on the process's gRPC event loop thread."""

    def __init__(self, registry: ModelRegistry, metrics: ServingMetrics, options: GrpcOptions,
                 reload_config: ReloadConfig | None = None) -> None:
        self._service = _Service(registry, metrics, options)
        self._reload_config = reload_config
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self.ports: list[int] = []

    def start(self) -> list[int]:
        self._loop = _grpc_loop()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=60)
        return self.ports

    async def _start(self) -> None:
        options = self._service.options
        server_options: dict[str, int | str] = {
            "grpc.max_receive_message_length": INT32_MAX,
            "grpc.max_send_message_length": INT32_MAX,
            "grpc.so_reuseport": 0,
        }
        server_options.update(options.channel_arguments)
        self._server = grpc.aio.server(options=list(server_options.items()),
                                       maximum_concurrent_rpcs=options.max_concurrent_rpcs)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(self._service), self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelService(self._service, self._reload_config), self._server)
        if options.health:
            self._server.add_generic_rpc_handlers((_health_handler(),))
        for address in options.addresses:
            if options.credentials is not None:
                port = self._server.add_secure_port(address, options.credentials)
            else:
                port = self._server.add_insecure_port(address)
            if port == 0 and not address.startswith("unix:"):
                raise OSError(f"cannot bind the gRPC server to {address}")
            self.ports.append(port)
        await self._server.start()

    def stop(self, grace: float = 2.0) -> None:
        if self._loop is None or self._server is None:
            return
        server, self._server = self._server, None
        try:
            asyncio.run_coroutine_threadsafe(server.stop(grace), self._loop).result(timeout=grace + 10)
        except (RuntimeError, TimeoutError):
            log.warning("the gRPC server did not stop within %.0f s", grace + 10)
