"""TF Serving's REST API as a bare ASGI application (served by uvicorn with httptools/uvloop).

Routes (as TF Serving):
  GET  /v1/models/{name}[/versions/{v}|/labels/{l}]             model status
  GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    signature defs
  POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict|:classify|:regress
  GET  /monitoring/prometheus/metrics                           Prometheus metrics
Errors are ``{"error": "..."}`` with TF Serving's HTTP codes. Responses to inference calls also
carry ``model_version``: which version answered (useful with a traffic split).

No web framework: the routes are a single regular expression and a request is a handful of
awaits, which keeps the per-request overhead to tens of microseconds.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from penstock.serving import inference, json_codec
from penstock.serving.config import is_valid_label, is_valid_model_name
from penstock.serving.errors import RequestError, invalid
from penstock.serving.metrics import UNKNOWN, ServingMetrics
from penstock.serving.model_registry import Handle, ModelRegistry
from penstock.serving.servable import Signature

log = logging.getLogger("penstock.serving")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_ROUTE = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<method>[A-Za-z]+))?/?$"
)
METRICS_PATH = "/monitoring/prometheus/metrics"
_JSON_HEADERS = [(b"content-type", b"application/json")]
_MAX_VERSION = 2**63 - 1


class RestApp:
    def __init__(self, registry: ModelRegistry, metrics: ServingMetrics, max_request_bytes: int,
                 executor: ThreadPoolExecutor | None = None) -> None:
        self.registry = registry
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes
        self.executor = executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="penstock-rest")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        start = time.perf_counter()
        method = scope["method"]
        path = scope["path"]
        model = UNKNOWN
        version: int | None = None
        api = "other"
        try:
            if path == METRICS_PATH:
                api = "metrics"
                if method != "GET":
                    raise RequestError("METHOD_NOT_ALLOWED", f"{method} {path}: use GET")
                body, content_type = self.metrics.render()
                await _send(send, 200, body, [(b"content-type", content_type.encode())])
                return
            match = _ROUTE.match(path)
            if match is None:
                raise RequestError("NOT_FOUND", f"Malformed request: {method} {path}")
            name = match["name"]
            if not is_valid_model_name(name):
                raise invalid(f"invalid model name {name[:80]!r}")
            if self.registry.is_known(name):
                model = name
            requested_version = _parse_version(match["version"])
            label = match["label"]
            if label is not None and not is_valid_label(label):
                raise invalid(f"invalid version label {label[:80]!r}")
            verb = match["method"]
            if verb is None:
                api = "metadata" if match["metadata"] else "status"
                if method != "GET":
                    raise RequestError("METHOD_NOT_ALLOWED", f"{method} {path}: use GET")
                if match["metadata"]:
                    payload, version = self._metadata(name, requested_version, label)
                else:
                    payload = self._status(name, requested_version, label)
                await _send(send, 200, json_codec.dumps(payload), _JSON_HEADERS)
                return
            api = verb
            if verb not in ("predict", "classify", "regress"):
                raise RequestError("NOT_FOUND", f"Malformed request: {method} {path}: unknown method ':{verb}' "
                                   "(use :predict, :classify or :regress)")
            if method != "POST":
                raise RequestError("METHOD_NOT_ALLOWED", f"{method} {path}: use POST")
            body = await self._read_body(scope, receive)
            request = json_codec.loads(body)
            with self.registry.acquire(name, requested_version, label) as handle:
                version = handle.version
                payload = await self._infer(verb, handle, request)
            await _send(send, 200, json_codec.dumps(payload), _JSON_HEADERS)
        except RequestError as e:
            log.info("%s %s -> %d %s: %s", method, path[:200], e.http_status, e.code, e.message)
            self.metrics.observe(model, version, api, "rest", time.perf_counter() - start, e.code)
            await _send(send, e.http_status, json_codec.dumps({"error": e.message}), _JSON_HEADERS)
            return
        except Exception as e:  # a server fault: report it, keep serving
            log.exception("%s %s -> 500", method, path[:200])
            self.metrics.observe(model, version, api, "rest", time.perf_counter() - start, "INTERNAL")
            await _send(send, 500, json_codec.dumps({"error": f"internal error: {type(e).__name__}: {e}"}),
                        _JSON_HEADERS)
            return
        self.metrics.observe(model, version, api, "rest", time.perf_counter() - start)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise invalid("Content-Length is not a number") from None
                if declared > self.max_request_bytes:
                    raise RequestError("RESOURCE_EXHAUSTED", f"request body of {declared} bytes exceeds the "
                                       f"limit of {self.max_request_bytes} bytes")
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise invalid("client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request_bytes:
                raise RequestError("RESOURCE_EXHAUSTED",
                                   f"request body exceeds the limit of {self.max_request_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _status(self, name: str, version: int | None, label: str | None) -> dict[str, Any]:
        return {"model_version_status": [
            {"version": str(s.version), "state": s.state,
             "status": {"error_code": s.error_code, "error_message": s.error_message}}
            for s in self.registry.status(name, version, label)
        ]}

    def _metadata(self, name: str, version: int | None, label: str | None) -> tuple[dict[str, Any], int]:
        with self.registry.acquire(name, version, label) as handle:
            return {
                "model_spec": {"name": name, "signature_name": "", "version": str(handle.version)},
                "metadata": {"signature_def": handle.servable.signature_def_json},
            }, handle.version

    async def _infer(self, verb: str, handle: Handle, request: dict[str, Any]) -> dict[str, Any]:
        signature_name = request.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise invalid("'signature_name' must be a string")
        sig = handle.servable.signature(signature_name)
        if verb == "predict":
            has_instances, has_inputs = "instances" in request, "inputs" in request
            if has_instances == has_inputs:
                raise invalid("the request must have exactly one of 'instances' (row format) or 'inputs' "
                              "(columnar format)")
            if has_instances:
                inputs = json_codec.decode_instances(request["instances"], sig)
            else:
                inputs = json_codec.decode_inputs(request["inputs"], sig)
            rows = sig.validate(inputs)
            if has_instances and rows is None:
                raise invalid("row format: every input must have the same number of instances")
            outputs = await self._run(handle, sig, inputs, rows)
            if has_instances:
                return {"predictions": json_codec.encode_predictions(outputs, sig.name),
                        "model_version": str(handle.version)}
            return {"outputs": json_codec.encode_outputs(outputs), "model_version": str(handle.version)}
        plan = inference.classify_signature(sig) if verb == "classify" else inference.regress_signature(sig)
        serialized = json_codec.examples_from_request(request)
        outputs = await self._run(handle, sig, plan.inputs(serialized), len(serialized))
        if verb == "classify":
            result: Any = inference.classifications(plan, outputs, len(serialized))
        else:
            result = inference.regressions(plan, outputs, len(serialized))
        return {"result": result, "model_version": str(handle.version)}

    async def _run(self, handle: Handle, sig: Signature, inputs: dict[str, np.ndarray],
                   rows: int | None) -> dict[str, np.ndarray]:
        if handle.scheduler is not None:
            return await handle.scheduler.submit(sig, inputs, rows)
        return await asyncio.get_running_loop().run_in_executor(self.executor, sig.run, inputs)


def _parse_version(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not text.isascii() or int(text) > _MAX_VERSION:
        raise invalid(f"version {text[:40]!r} is not a non-negative integer")
    return int(text)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
