"""TF Serving's gRPC API: ``tensorflow.serving.PredictionService`` (Predict, Classify, Regress,
GetModelMetadata) and ``ModelService.GetModelStatus``, implemented on the servicer base classes
generated from tensorflow-serving-api's protos, so TF Serving's own client stubs work unchanged.
Responses name the version that answered in ``model_spec.version``.

The server is grpc.aio on its own event loop thread: a request waiting for its batch costs a
coroutine, not one of a few dozen threads fighting over the GIL.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np

from penstock.serving import inference, tensor_proto
from penstock.serving.config import is_valid_label, is_valid_model_name
from penstock.serving.errors import RequestError, invalid
from penstock.serving.metrics import UNKNOWN, ServingMetrics
from penstock.serving.model_registry import Handle, ModelRegistry
from penstock.serving.servable import Signature

log = logging.getLogger("penstock.serving")

T = TypeVar("T")
STATE_NUMBERS = {"UNKNOWN": 0, "START": 10, "LOADING": 20, "AVAILABLE": 30, "UNLOADING": 40, "END": 50}


class GrpcServer:
    """grpc.aio server with both services, on a private event loop in a background thread."""

    def __init__(self, registry: ModelRegistry, metrics: ServingMetrics, address: str,
                 max_concurrent_rpcs: int, max_message_bytes: int) -> None:
        self._args = (registry, metrics, address, max_concurrent_rpcs, max_message_bytes)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._grace = 2.0
        self.port = 0

    def start(self) -> int:
        self._thread = threading.Thread(target=self._run, name="penstock-grpc", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=60)
        if self._error is not None:
            raise self._error
        if not self._ready.is_set():
            raise OSError("the gRPC server did not start in 60 s")
        return self.port

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        registry, metrics, address, max_concurrent_rpcs, max_message_bytes = self._args
        try:
            self._server = grpc.aio.server(
                options=[
                    ("grpc.max_receive_message_length", max_message_bytes),
                    ("grpc.max_send_message_length", -1),
                    ("grpc.so_reuseport", 0),
                ],
                maximum_concurrent_rpcs=max_concurrent_rpcs,
            )
            prediction, model = _make_servicers(registry, metrics)
            prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, self._server)
            model_service_pb2_grpc.add_ModelServiceServicer_to_server(model, self._server)
            self.port = self._server.add_insecure_port(address)
            if self.port == 0:
                raise OSError(f"cannot bind the gRPC server to {address}")
            await self._server.start()
        except BaseException as e:  # handed to start()
            self._error = e
            self._ready.set()
            return
        self._stopping = asyncio.Event()
        self._ready.set()
        await self._stopping.wait()
        await self._server.stop(self._grace)

    def stop(self, grace: float = 2.0) -> None:
        if self._loop is None or self._stopping is None or self._thread is None:
            return
        self._grace = grace
        try:
            self._loop.call_soon_threadsafe(self._stopping.set)
        except RuntimeError:
            pass  # the loop already ended
        self._thread.join(timeout=grace + 10)


def _make_servicers(registry: ModelRegistry, metrics: ServingMetrics) -> tuple[Any, Any]:
    import grpc
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
        regression_pb2,
    )

    codes = {code.name: code for code in grpc.StatusCode}

    async def handle(api: str, request: Any, context: Any, body: Callable[[Handle | None], Awaitable[T]],
                     needs_version: bool = True) -> T:
        """Run ``body`` with the requested version reserved; map errors to gRPC statuses."""
        start = time.perf_counter()
        spec = request.model_spec
        model = spec.name if registry.is_known(spec.name) else UNKNOWN
        version = None
        try:
            if not is_valid_model_name(spec.name):
                raise invalid(f"invalid model name {spec.name[:80]!r}" if spec.name else "model_spec.name is empty")
            if spec.version_label and not is_valid_label(spec.version_label):
                raise invalid(f"invalid version label {spec.version_label[:80]!r}")
            if spec.HasField("version") and spec.version.value < 0:
                raise invalid(f"version {spec.version.value} is negative")
            if not needs_version:
                result = await body(None)
            else:
                with registry.acquire(spec.name, spec.version.value if spec.HasField("version") else None,
                                      spec.version_label or None) as reserved:
                    version = reserved.version
                    result = await body(reserved)
        except RequestError as e:
            log.info("gRPC %s %s -> %s: %s", api, spec.name[:80], e.code, e.message)
            metrics.observe(model, version, api, "grpc", time.perf_counter() - start, e.code)
            await context.abort(codes.get(e.code, grpc.StatusCode.INVALID_ARGUMENT), e.message)
        except Exception as e:  # a server fault: report it, keep serving
            log.exception("gRPC %s %s -> INTERNAL", api, spec.name[:80])
            metrics.observe(model, version, api, "grpc", time.perf_counter() - start, "INTERNAL")
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}: {e}")
        metrics.observe(model, version, api, "grpc", time.perf_counter() - start)
        return result

    def fill_spec(response: Any, request: Any, reserved: Handle, signature_name: str) -> None:
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = reserved.version
        response.model_spec.signature_name = signature_name

    async def run(reserved: Handle, sig: Signature, inputs: dict[str, np.ndarray],
                  rows: int | None) -> dict[str, Any]:
        if reserved.scheduler is not None:
            return await reserved.scheduler.submit(sig, inputs, rows)
        return await asyncio.get_running_loop().run_in_executor(None, sig.run, inputs)

    class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        async def Predict(self, request: Any, context: Any) -> Any:
            async def body(reserved: Handle | None) -> Any:
                assert reserved is not None
                sig = reserved.servable.signature(request.model_spec.signature_name)
                inputs = {key: tensor_proto.to_array(proto, key) for key, proto in request.inputs.items()}
                rows = sig.validate(inputs)
                for key in request.output_filter:
                    if key not in sig.outputs:
                        raise invalid(f"output_filter: signature '{sig.name}' has no output '{key}' "
                                      f"(outputs: {', '.join(sig.outputs)})")
                outputs = await run(reserved, sig, inputs, rows)
                response = predict_pb2.PredictResponse()
                fill_spec(response, request, reserved, sig.name)
                wanted = set(request.output_filter) or outputs.keys()
                for key in wanted:
                    response.outputs[key].CopyFrom(tensor_proto.from_array(outputs[key]))
                return response
            return await handle("predict", request, context, body)

        async def Classify(self, request: Any, context: Any) -> Any:
            async def body(reserved: Handle | None) -> Any:
                assert reserved is not None
                sig = reserved.servable.signature(request.model_spec.signature_name)
                plan = inference.classify_signature(sig)
                serialized = inference.serialized_examples_from_input(request.input)
                outputs = await run(reserved, sig, plan.inputs(serialized), len(serialized))
                response = classification_pb2.ClassificationResponse()
                fill_spec(response, request, reserved, sig.name)
                for pairs in inference.classifications(plan, outputs, len(serialized)):
                    classifications = response.result.classifications.add()
                    for label, score in pairs:
                        classifications.classes.add(label=label, score=score)
                return response
            return await handle("classify", request, context, body)

        async def Regress(self, request: Any, context: Any) -> Any:
            async def body(reserved: Handle | None) -> Any:
                assert reserved is not None
                sig = reserved.servable.signature(request.model_spec.signature_name)
                plan = inference.regress_signature(sig)
                serialized = inference.serialized_examples_from_input(request.input)
                outputs = await run(reserved, sig, plan.inputs(serialized), len(serialized))
                response = regression_pb2.RegressionResponse()
                fill_spec(response, request, reserved, sig.name)
                for value in inference.regressions(plan, outputs, len(serialized)):
                    response.result.regressions.add(value=value)
                return response
            return await handle("regress", request, context, body)

        async def GetModelMetadata(self, request: Any, context: Any) -> Any:
            async def body(reserved: Handle | None) -> Any:
                assert reserved is not None
                fields = list(request.metadata_field)
                if not fields:
                    raise invalid("GetModelMetadataRequest must name at least one metadata_field "
                                  "('signature_def')")
                for field in fields:
                    if field != "signature_def":
                        raise invalid(f"metadata field '{field}' is not supported (only 'signature_def')")
                response = get_model_metadata_pb2.GetModelMetadataResponse()
                fill_spec(response, request, reserved, "")
                response.metadata["signature_def"].Pack(reserved.servable.signature_def_map)
                return response
            return await handle("metadata", request, context, body)

    class ModelService(model_service_pb2_grpc.ModelServiceServicer):
        async def GetModelStatus(self, request: Any, context: Any) -> Any:
            async def body(_: Handle | None) -> Any:
                spec = request.model_spec
                version = spec.version.value if spec.HasField("version") else None
                response = get_model_status_pb2.GetModelStatusResponse()
                for status in registry.status(spec.name, version, spec.version_label or None):
                    entry = response.model_version_status.add()
                    entry.version = status.version
                    entry.state = STATE_NUMBERS[status.state]
                    entry.status.error_code = _error_code_number(status.error_code)
                    entry.status.error_message = status.error_message
                return response
            return await handle("status", request, context, body, needs_version=False)

    return PredictionService(), ModelService()


def _error_code_number(name: str) -> int:
    from tensorflow.core.protobuf import error_codes_pb2

    try:
        return int(error_codes_pb2.Code.Value(name))
    except ValueError:
        return 2  # UNKNOWN
