"""TF Serving's REST API as a bare ASGI application (served by uvicorn with httptools/uvloop).

Routes, matched as TF Serving matches them (case-insensitive, percent-decoded names and labels):
  GET  /v1/models/{name}[/versions/{v}|/labels/{l}]             model status
  GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata    signature defs
  POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict|:classify|:regress
  any  {monitoring path}                                        Prometheus metrics, when enabled
Anything else under /v1/ is TF Serving's "Malformed request" (400); other paths are 404. Errors are
``{"error": "..."}`` with TF Serving's HTTP codes; ``Content-Encoding: gzip`` bodies are accepted;
CORS headers and preflight answers are given with ``rest_api_enable_cors_support``.

Bodies above ``LARGE_BODY_BYTES`` are parsed, converted and answered in a worker thread, so one
60 MB request does not hold up the small ones behind it on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import numpy as np

from penstock.serving import inference, json_codec
from penstock.serving.errors import RequestError, invalid
from penstock.serving.metrics import ServingMetrics
from penstock.serving.model_registry import Handle, ModelRegistry

log = logging.getLogger("penstock.serving")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# TF Serving's path expressions (http_rest_api_util.cc), matched against the undecoded path
_V1 = re.compile(r"(?i)/v1/.*", re.DOTALL)
_PREDICTION = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)")
_STATUS = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")
_JSON = (b"content-type", b"application/json")
_CORS = [(b"access-control-allow-origin", b"*"), (b"access-control-allow-methods", b"POST, GET"),
         (b"access-control-allow-headers", b"Content-Type")]
_MAX_VERSION = 2**63 - 1
LARGE_BODY_BYTES = 1 << 20


@dataclass
class RestOptions:
    max_request_bytes: int = 2**31 - 1
    timeout_ms: int = 30000  # --rest_api_timeout_in_ms (a model run longer than this: 504)
    cors: bool = False
    metrics_path: str | None = None  # None: Prometheus metrics not served
    include_model_version: bool = False  # penstock: "model_version" in inference responses


@dataclass
class _Prepared:
    """A parsed and converted inference request, ready to run."""

    verb: str
    signature_name: str
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    row_format: bool = True
    examples: list[bytes] = field(default_factory=list)


class RestApp:
    def __init__(self, registry: ModelRegistry, metrics: ServingMetrics, options: RestOptions) -> None:
        self.registry = registry
        self.metrics = metrics
        self.options = options
        # big bodies are parsed here: a pool of its own, so they never wait behind model runs
        self.parser = ThreadPoolExecutor(max_workers=2, thread_name_prefix="penstock-rest-parse")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        start = time.perf_counter()
        method: str = scope["method"]
        raw_path: str = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if self.options.metrics_path is not None and scope["path"] == self.options.metrics_path:
            await _send(send, 200, self.metrics.render(), [(b"content-type", b"text/plain")])
            return
        if not _V1.fullmatch(raw_path):
            await _send(send, 404, json_codec.dumps({"error": f"Not Found: {method} {scope['path'][:200]}"}), [_JSON])
            return
        if method == "OPTIONS":
            await self._preflight(scope, send)
            return
        code = "OK"
        seen = {"model": "", "api": ""}  # filled as soon as the path names them, for the metrics
        try:
            status, payload = await self._handle(method, raw_path, scope, receive, seen)
        except RequestError as e:
            code = e.code
            log.info("%s %s -> %d %s: %s", method, raw_path[:200], e.http_status, e.code, e.message[:500])
            status, payload = e.http_status, json_codec.dumps({"error": e.message})
        except Exception as e:  # a server fault: report it, keep serving
            code = "INTERNAL"
            log.exception("%s %s -> 500", method, raw_path[:200])
            status, payload = 500, json_codec.dumps({"error": f"internal error: {type(e).__name__}: {e}"})
        model = seen["model"] if self.registry.is_known(seen["model"]) else ""
        self.metrics.observe_request(model, seen["api"], "REST", time.perf_counter() - start, code)
        await _send(send, status, payload, [_JSON, *(_CORS if self.options.cors else [])])

    async def _preflight(self, scope: Scope, send: Send) -> None:
        origin = dict(scope["headers"]).get(b"origin", b"")
        ok = re.search(rb"https?://", origin) is not None
        await _send(send, 200 if ok else 400, b"", _CORS if self.options.cors else [])

    async def _handle(self, method: str, path: str, scope: Scope, receive: Receive,
                      seen: dict[str, str]) -> tuple[int, bytes]:
        """(HTTP status, body) of one request under /v1/; ``seen`` gets the model name and API."""
        malformed = invalid(f"Malformed request: {method} {path}")
        if method == "POST":
            match = _PREDICTION.fullmatch(path)
            if match is None or match[4] not in ("predict", "classify", "regress"):
                raise malformed
            seen["model"], seen["api"] = unquote(match[1]), match[4]
            name, version, label = _model_spec(match)
            body = await self._read_body(scope, receive)
            return 200, await self._infer(match[4], name, version, label, body)
        if method != "GET":
            raise malformed
        match = _STATUS.fullmatch(path)
        if match is None:
            raise malformed
        seen["model"] = unquote(match[1] or "")
        name, version, label = _model_spec(match)
        if not name:
            raise invalid("Missing model name in request.")
        if match[4]:
            return 200, self._metadata(name, version, label)
        return 200, self._status(name, version)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.options.max_request_bytes
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                raise invalid("Content-Length is not a number")
            if int(declared) > limit:
                raise RequestError("RESOURCE_EXHAUSTED", f"request body of {int(declared)} bytes exceeds the limit "
                                                         f"of {limit} bytes (--max_request_bytes)")
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError("CANCELLED", "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError("RESOURCE_EXHAUSTED", f"request body exceeds the limit of {limit} bytes "
                                                         "(--max_request_bytes)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if b"gzip" in headers.get(b"content-encoding", b"").lower():
            body = await self._maybe_off_loop(len(body) * 4, _gunzip, body, limit)
        return body

    async def _maybe_off_loop(self, size: int, function: Callable[..., Any], *args: Any) -> Any:
        if size < LARGE_BODY_BYTES:
            return function(*args)
        return await asyncio.get_running_loop().run_in_executor(self.parser, function, *args)

    def _status(self, name: str, version: int | None) -> bytes:
        return json_codec.dumps({"model_version_status": [
            {"version": str(s.version), "state": s.state,
             "status": {"error_code": s.error_code, "error_message": s.error_message}}
            for s in self.registry.status(name, version)
        ]})

    def _metadata(self, name: str, version: int | None, label: str | None) -> bytes:
        with self.registry.acquire(name, version, label) as handle:
            servable = handle.servable
            if servable.metadata_json is None:
                from google.protobuf import json_format

                servable.metadata_json = json_codec.dumps(json_format.MessageToDict(
                    servable.signature_def_map, including_default_value_fields=True,
                    preserving_proto_field_name=True))
            return (b'{"model_spec":' + json_codec.dumps({"name": name, "signature_name": "",
                                                           "version": str(handle.version)})
                    + b',"metadata":{"signature_def":' + servable.metadata_json + b"}}")

    async def _infer(self, verb: str, name: str, version: int | None, label: str | None, body: bytes) -> bytes:
        request = await self._maybe_off_loop(len(body), json_codec.loads, body)
        with self.registry.acquire(name, version, label) as handle:
            prepared = await self._maybe_off_loop(len(body), _prepare, verb, request, handle, b"true" in body
                                                  or b"false" in body)
            result = await self._dispatch(prepared, handle)
            extra = {"model_version": str(handle.version)} if self.options.include_model_version else {}
            size = max(len(body), sum(a.nbytes for a in result.outputs.values())
                       if isinstance(result, inference.Predicted) else 0)
            return await self._maybe_off_loop(size, _encode, prepared, result, extra)

    async def _dispatch(self, prepared: _Prepared, handle: Handle) -> Any:
        timeout_ms = self.options.timeout_ms
        run: inference.Run = handle.run
        if timeout_ms > 0 and handle.scheduler is not None:
            run = _with_deadline(handle.run, timeout_ms)
        servable, signature_name = handle.servable, prepared.signature_name
        if prepared.verb == "predict":
            return await inference.predict(servable, signature_name, prepared.inputs, (), run, timeout_ms)
        if prepared.verb == "classify":
            return await inference.classify(servable, signature_name, prepared.examples, run, timeout_ms)
        return await inference.regress(servable, signature_name, prepared.examples, run, timeout_ms)


def _encode(prepared: _Prepared, result: Any, extra: dict[str, str]) -> bytes:
    """The response body, as TF Serving shapes it (``predictions``/``outputs``/``results``)."""
    payload: dict[str, Any]
    if isinstance(result, inference.Predicted):
        if prepared.row_format:
            payload = {"predictions": json_codec.encode_predictions(result.outputs)}
        else:
            payload = {"outputs": json_codec.encode_outputs(result.outputs)}
    elif isinstance(result, inference.Classified):
        payload = {"results": json_codec.encode_classifications(result.rows())}
    else:
        payload = {"results": json_codec.encode_regressions(result.values)}
    return json_codec.dumps({**payload, **extra})


def _prepare(verb: str, request: dict[str, Any], handle: Handle, may_have_bools: bool) -> _Prepared:
    signature_name = json_codec.signature_name(request)
    if verb != "predict":
        return _Prepared(verb, signature_name, examples=json_codec.examples_from_request(request))
    sig = handle.servable.signatures.get(inference.signature_name_or_default(signature_name))
    if sig is None:
        raise invalid(f'Serving signature name: "{inference.signature_name_or_default(signature_name)}" not found '
                      "in signature def")
    if not sig.inputs:
        raise invalid(f"Failed to get input map for signature: {signature_name or 'DEFAULT'}")
    inputs, row_format = json_codec.decode_predict(request, sig.inputs, may_have_bools)
    return _Prepared(verb, signature_name, inputs=inputs, row_format=row_format)


def _with_deadline(run: inference.Run, timeout_ms: int) -> inference.Run:
    """A batched run cannot carry the session timeout (the batch is shared): bound the wait instead."""
    async def bounded(call: inference.Call) -> Any:
        try:
            return await asyncio.wait_for(run(call), timeout_ms / 1000)
        except TimeoutError:
            raise RequestError("DEADLINE_EXCEEDED", f"the model did not answer within {timeout_ms} ms "
                                                    "(--rest_api_timeout_in_ms)") from None
    return bounded


def _model_spec(match: re.Match[str]) -> tuple[str, int | None, str | None]:
    name = unquote(match[1] or "")
    version: int | None = None
    if match[2]:
        if int(match[2]) > _MAX_VERSION:
            raise invalid(f"Failed to convert version: {match[2]} to numeric.")
        version = int(match[2])
    label = unquote(match[3]) if match[3] else None
    return name, version, label


def _gunzip(body: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as e:
        raise invalid(f"request body: Content-Encoding is gzip, but it does not decompress: {e}") from None
    if len(data) > limit or decompressor.unconsumed_tail:
        raise RequestError("RESOURCE_EXHAUSTED", f"request body exceeds the limit of {limit} bytes once "
                                                 "decompressed (--max_request_bytes)")
    return data


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
