"""Benchmark of ``penstock serve``: latency and throughput over REST and gRPC at concurrency 1, 8
and 64, against the floor of calling the same SavedModel signature in-process; and rollbacks under
load (deleting the newest version, pinning an older one), counting failed requests.

The server runs in its own process (as in production), started with TF Serving's flags; the load
generator is this process: a minimal keep-alive HTTP/1.1 client on asyncio for REST (a heavyweight
client would measure itself) and grpc.aio with TF Serving's stubs for gRPC, which checks that
Predict answers in the typed fields (``float_val``) TF Serving's clients read. Each request is one
serialized tf.Example to ``serving_default``, the way a TFX model is called.

Model: the taxi model pushed under ``$PENSTOCK_HOME/serving/taxi`` if there is one, else the
taxi-like test model (tests/serving/_serving_models.py), copied into bench/data/ with a
``batching_params.pbtxt`` (the taxi model treats rows independently, so batching it is right).

The same requests are then sent by C load generators, wrk (REST) and h2load (gRPC), when they are
installed or installable (bench/native_load.py): the Python client spends about as much CPU per
request as the server, on the same 2 cores, so only the C clients' figures are the server's own.

    .venv/bin/python bench/serving.py [--seconds 3] [--rounds 3] [--model-base-path DIR]

Targets: REST p50 at concurrency 1 <= in-process p50 + 0.2 ms; with batching, gRPC requests/s at
concurrency 64 >= 8x that at concurrency 1; no failed request during a rollback. Both clients'
figures are printed and kept. Writes bench/results/serving.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = os.path.join(REPO, "bench", "results", "serving.json")
FIXTURE_BASE = os.path.join(REPO, "bench", "data", "serving", "taxi")
SERVED_BASE = os.path.join(REPO, "bench", "data", "serving", "served", "taxi")
TAXI_CSV = os.path.join(REPO, "examples", "taxi", "data", "taxi.csv")
CONCURRENCY = (1, 8, 64)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def summarize(latencies: list[float], elapsed: float) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 50) * 1e3, 3),
        "p99_ms": round(percentile(latencies, 99) * 1e3, 3),
        "requests_per_s": round(len(latencies) / elapsed, 1),
    }


# ---- model and request --------------------------------------------------------------------


def latest_version(base: str) -> str | None:
    """The newest complete version directory under ``base`` (the server's own rules)."""
    from penstock.serving import storage

    try:
        versions = storage.list_versions(base)
    except storage.BasePathUnavailable:
        return None
    complete = [v for v, path in versions.items() if not storage.missing_parts(path)]
    return versions[max(complete)] if complete else None


def find_pushed_taxi_model() -> str | None:
    from penstock import settings

    base = os.path.join(settings.default_serving_dir(), "taxi")
    return base if latest_version(base) else None


def build_fixture_model() -> str:
    sys.path.insert(0, os.path.join(REPO, "tests", "serving"))
    from _serving_models import build_taxi_like_saved_model

    version = os.path.join(FIXTURE_BASE, "1")
    if latest_version(FIXTURE_BASE) is None:
        os.makedirs(FIXTURE_BASE, exist_ok=True)
        staging = os.path.join(FIXTURE_BASE, ".tmp-1")
        build_taxi_like_saved_model(staging)
        os.rename(staging, version)
    return FIXTURE_BASE


def example_from_taxi_csv() -> bytes:
    """The first taxi row as a tf.Example, typed as CsvExampleGen types columns."""
    from tensorflow.core.example import example_pb2

    from penstock.runtime.user_code import load_module_file

    taxi_pipeline = load_module_file(os.path.join(REPO, "examples", "taxi", "pipeline.py"))
    forced_float = set(taxi_pipeline.FLOAT_COLUMNS)  # the pipeline's column_types override
    with open(TAXI_CSV, newline="") as f:
        row = next(csv.DictReader(f))
    example = example_pb2.Example()
    for key, text in row.items():
        if text == "":
            continue
        feature = example.features.feature[key]
        if key in forced_float:
            feature.float_list.value.append(float(text))
            continue
        try:
            feature.int64_list.value.append(int(text))
            continue
        except ValueError:
            pass
        try:
            feature.float_list.value.append(float(text))
        except ValueError:
            feature.bytes_list.value.append(text.encode())
    return example.SerializeToString()


def request_example(fixture: bool) -> bytes:
    if fixture:
        from _serving_models import make_example

        return make_example()
    return example_from_taxi_csv()


# ---- in-process floor ---------------------------------------------------------------------


def bench_in_process(version_dir: str, example: bytes, seconds: float) -> dict[str, float]:
    import numpy as np

    from penstock.serving.servable import load_servable

    servable = load_servable("taxi", 1, version_dir)
    sig = servable.signatures["serving_default"]
    inputs = {next(iter(sig.inputs)): np.array([example], dtype=object)}
    fetch = tuple(sig.outputs)
    for _ in range(50):
        sig.run(inputs, fetch)
    latencies = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        sig.run(inputs, fetch)
        latencies.append(time.perf_counter() - t0)
    servable.close()
    return summarize(latencies, time.perf_counter() - start)


# ---- server process -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(args: list[str]) -> tuple[subprocess.Popen[bytes], int, int]:
    """``penstock serve`` with TF Serving's flags on free loopback ports; (process, REST, gRPC port)."""
    rest_port, grpc_port = free_port(), free_port()
    command = [sys.executable, "-m", "penstock", "serve", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
               "--log_level=warning", *args]
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": REPO})
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline().decode(errors="replace")
        if not line and process.poll() is not None:
            raise RuntimeError(f"penstock serve exited with {process.returncode}")
        if "penstock serve: REST" in line:
            # keep draining stderr so the server never blocks on a full pipe
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()  # type: ignore[union-attr]
            return process, rest_port, grpc_port
    process.kill()
    raise RuntimeError("penstock serve did not start in 120 s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ---- REST load ----------------------------------------------------------------------------


async def rest_worker(port: int, request: bytes, deadline: float, latencies: list[float], errors: list[str]) -> None:
    import socket

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(body.decode(errors="replace")[:200])
    finally:
        writer.close()


def rest_body(example: bytes) -> bytes:
    """The REST request every client sends: one serialized tf.Example in TF Serving's b64 form."""
    import base64

    return json.dumps({"instances": [{"b64": base64.b64encode(example).decode()}]}).encode()


def http_request(example: bytes) -> bytes:
    """The whole keep-alive HTTP/1.1 request of ``rest_body`` (for penstock's own asyncio client)."""
    body = rest_body(example)
    return (b"POST /v1/models/taxi:predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def rest_load(port: int, example: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    request = http_request(example)
    warm: list[float] = []
    await asyncio.gather(*(rest_worker(port, request, time.perf_counter() + 0.5, warm, []) for _ in range(concurrency)))
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    await asyncio.gather(*(rest_worker(port, request, start + seconds, latencies, errors)
                           for _ in range(concurrency)))
    result: dict[str, Any] = summarize(latencies, time.perf_counter() - start)
    result["errors"] = len(errors)
    return result


# ---- gRPC load ----------------------------------------------------------------------------


def predict_request(example: bytes) -> Any:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "taxi"
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto([example]))
    return request


async def grpc_load(port: int, example: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    request = predict_request(example)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        errors: list[str] = []

        async def worker(deadline: float, latencies: list[float]) -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    response = await stub.Predict(request, timeout=30)
                    if not response.outputs["outputs"].float_val:  # TF Serving's clients read the typed field
                        errors.append("outputs not in float_val")
                except grpc.RpcError as e:
                    errors.append(str(e.code()))
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(time.perf_counter() + 0.5, []) for _ in range(concurrency)))
        latencies: list[float] = []
        start = time.perf_counter()
        await asyncio.gather(*(worker(start + seconds, latencies) for _ in range(concurrency)))
        result: dict[str, Any] = summarize(latencies, time.perf_counter() - start)
        result["errors"] = len(errors)
        return result


def run_async(coroutine: Any) -> Any:
    """uvloop for the REST load generator: the client shares the CPUs with the server."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def run_loads(port_rest: int, port_grpc: int | None, example: bytes, seconds: float,
              levels: tuple[int, ...], rounds: int) -> dict[str, dict[str, Any]]:
    """Each level ``rounds`` times, interleaved; keep the round with the best throughput (the
    machine is shared, so the best round is the one least disturbed by other work)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for concurrency in levels:
            runs.setdefault(f"rest_c{concurrency}", []).append(
                run_async(rest_load(port_rest, example, concurrency, seconds)))
        if port_grpc is not None:
            for concurrency in levels:
                runs.setdefault(f"grpc_c{concurrency}", []).append(
                    asyncio.run(grpc_load(port_grpc, example, concurrency, seconds)))
    return best_rounds(runs, fmt)


def best_rounds(runs: dict[str, list[dict[str, Any]]],
                describe: Callable[[dict[str, Any]], str]) -> dict[str, dict[str, Any]]:
    """Per level (``rest_c64``...), the round with the best throughput, every round's throughput
    kept beside it (the machine is shared: the best round is the one least disturbed); printed."""
    results: dict[str, dict[str, Any]] = {}
    for key, rs in runs.items():
        best = dict(max(rs, key=lambda r: r["requests_per_s"]))
        best["all_rounds_requests_per_s"] = [r["requests_per_s"] for r in rs]
        results[key] = best
        protocol, level = key.split("_c")
        print(f"  {protocol.upper():<5} c={level:<3} {describe(best)}", flush=True)
    return results


def run_native_loads(port_rest: int, port_grpc: int, example: bytes, seconds: float,
                     levels: tuple[int, ...], rounds: int) -> dict[str, dict[str, Any]]:
    """The same requests from wrk and h2load (bench/native_load.py), best round per level."""
    import native_load

    body = rest_body(example)
    request = predict_request(example).SerializeToString()
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for concurrency in levels:
            runs.setdefault(f"rest_c{concurrency}", []).append(
                native_load.rest(port_rest, "/v1/models/taxi:predict", body, concurrency, seconds))
        for concurrency in levels:
            runs.setdefault(f"grpc_c{concurrency}", []).append(native_load.grpc(
                port_grpc, "/tensorflow.serving.PredictionService/Predict", request, concurrency, seconds))

    def describe(best: dict[str, Any]) -> str:
        latency = f"p50 {best['p50_ms']:7.3f} ms" if "p50_ms" in best else f"mean {best['mean_ms']:6.3f} ms"
        errors = f"  errors {best['errors']}" if best["errors"] else ""
        return f"{latency}  {best['requests_per_s']:9.1f} req/s{errors}  (C client)"

    return best_rounds(runs, describe)


# The HTTP stack alone: uvicorn with penstock's protocol and event loop answering a fixed body of
# the size of a prediction, no model, no JSON. What a request costs before penstock's own work.
_BARE_ASGI = """
import sys
import uvicorn
from penstock.serving.http_protocol import OneWriteHttpToolsProtocol

BODY = b'{"predictions": [0.612345678]}'
HEAD = {"type": "http.response.start", "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(HEAD)
    await send({"type": "http.response.body", "body": BODY})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http=OneWriteHttpToolsProtocol, loop="uvloop",
            lifespan="off", access_log=False, log_level="warning", server_header=False, date_header=False)
"""


def bare_http_floor(example: bytes, seconds: float, rounds: int) -> dict[str, Any]:
    """wrk at concurrency 1 against ``_BARE_ASGI`` with the benchmark's request: the REST floor."""

    import native_load

    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _BARE_ASGI, str(port)], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": REPO})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the bare ASGI server did not start") from None
                time.sleep(0.1)
        body = rest_body(example)
        return max((native_load.rest(port, "/v1/models/taxi:predict", body, 1, seconds) for _ in range(rounds)),
                   key=lambda r: r["requests_per_s"])
    finally:
        stop_server(process)  # type: ignore[arg-type]


def fmt(r: dict[str, Any]) -> str:
    errors = f"  errors {r['errors']}" if r.get("errors") else ""
    return f"p50 {r['p50_ms']:7.3f} ms  p99 {r['p99_ms']:7.3f} ms  {r['requests_per_s']:9.1f} req/s{errors}"


# ---- rollback under load --------------------------------------------------------------------


def rollback_under_load(version_dir: str, example: bytes, scenario: str, workdir: str) -> dict[str, Any]:
    """REST and gRPC clients (8 each) call the model while it rolls back from version 2 to 1:
    ``delete`` removes version 2's directory, ``pin`` reloads the config file with
    ``specific { versions: 1 }``. Every request must succeed."""
    base = os.path.join(workdir, scenario, "taxi")
    for version in (1, 2):
        shutil.copytree(version_dir, os.path.join(base, str(version)))
    config = os.path.join(workdir, scenario, "models.config")
    write_config(config, base, None)
    process, rest_port, grpc_port = start_server([f"--model_config_file={config}",
                                                  "--model_config_file_poll_wait_seconds=1",
                                                  "--file_system_poll_wait_seconds=1"])
    try:
        result = run_async(rollback_clients(rest_port, grpc_port, example, base, config, scenario))
    finally:
        stop_server(process)
    print(f"  rollback ({scenario}): {result['requests']} requests, {result['failed']} failed, "
          f"{result['seconds_to_version_1']:.1f} s until version 1 answered", flush=True)
    return result


def write_config(path: str, base: str, pinned: int | None) -> None:
    policy = f"model_version_policy {{ specific {{ versions: {pinned} }} }}" if pinned else ""
    with open(path + ".tmp", "w") as f:
        f.write(f'model_config_list {{ config {{ name: "taxi" base_path: "{base}" {policy} }} }}')
    os.replace(path + ".tmp", path)


async def rollback_clients(rest_port: int, grpc_port: int, example: bytes, base: str, config: str,
                           scenario: str) -> dict[str, Any]:

    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    rest_request = http_request(example)
    grpc_request = predict_request(example)
    failures: list[str] = []
    counts = {"requests": 0}
    answered: dict[int, float] = {}
    stop = asyncio.Event()

    async def rest_client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", rest_port)
        try:
            while not stop.is_set():
                writer.write(rest_request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
                text = await reader.readexactly(length)
                counts["requests"] += 1
                if not head.startswith(b"HTTP/1.1 200"):
                    failures.append(text.decode(errors="replace")[:200])
        finally:
            writer.close()

    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        async def grpc_client() -> None:
            while not stop.is_set():
                counts["requests"] += 1
                try:
                    response = await stub.Predict(grpc_request, timeout=30)
                    answered.setdefault(response.model_spec.version.value, time.perf_counter())
                except grpc.RpcError as e:
                    failures.append(f"{e.code()}: {e.details()}")

        tasks = [asyncio.ensure_future(rest_client()) for _ in range(8)]
        tasks += [asyncio.ensure_future(grpc_client()) for _ in range(8)]
        await asyncio.sleep(1.0)  # version 2 serving under load
        start = time.perf_counter()
        if scenario == "delete":
            await asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, os.path.join(base, "2"))
        else:
            write_config(config, base, 1)
        deadline = start + 60
        while 1 not in answered and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # and some more on version 1
        stop.set()
        await asyncio.gather(*tasks)
    return {"requests": counts["requests"], "failed": len(failures), "first_failures": failures[:3],
            "seconds_to_version_1": round(answered.get(1, deadline) - start, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per load level and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per level; the best one is reported")
    parser.add_argument("--model-base-path", help="serve this <base>/<version>/ instead of looking for one")
    args = parser.parse_args()

    base = args.model_base_path or find_pushed_taxi_model()
    fixture = base is None
    if base is None:
        base = build_fixture_model()
    version_dir = latest_version(base)
    assert version_dir is not None, f"no complete version under {base}"
    example = request_example(fixture)
    model_kind = "taxi-like test model (tests/serving/_serving_models.py)" if fixture else "pushed taxi model"
    print(f"model: {model_kind} at {version_dir}")
    # served from a copy that declares batching right for it (TF Serving's per-model batching file)
    shutil.rmtree(os.path.dirname(SERVED_BASE), ignore_errors=True)
    shutil.copytree(version_dir, os.path.join(SERVED_BASE, "1"))
    with open(os.path.join(SERVED_BASE, "1", "batching_params.pbtxt"), "w") as f:
        f.write("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 0 }\nnum_batch_threads { value: 1 }\n")
    load_avg = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load_avg:.2f} at start (client and server share them)")

    floor = max((bench_in_process(version_dir, example, args.seconds) for _ in range(args.rounds)),
                key=lambda r: r["requests_per_s"])
    print(f"  in-process signature call      {fmt(floor)}", flush=True)

    import native_load

    native = native_load.available()
    if not native:
        print("  (wrk and h2load are not installed: the C-client figures are left out)")
    serve_args = ["--model_name=taxi", f"--model_base_path={SERVED_BASE}"]
    bare: dict[str, Any] = {}
    if native:
        bare = bare_http_floor(example, args.seconds, args.rounds)
        print(f"  bare uvicorn, no model (C client) {fmt(bare)}", flush=True)
    native_batched: dict[str, dict[str, Any]] = {}
    native_unbatched: dict[str, dict[str, Any]] = {}
    process, rest_port, grpc_port = start_server([*serve_args, "--enable_batching=true"])
    try:
        batched = run_loads(rest_port, grpc_port, example, args.seconds, CONCURRENCY, args.rounds)
        if native:
            native_batched = run_native_loads(rest_port, grpc_port, example, args.seconds, (1, 64), args.rounds)
    finally:
        stop_server(process)
    print("  without batching (TF Serving's default):")
    process, rest_port, grpc_port = start_server(serve_args)
    try:
        unbatched = run_loads(rest_port, grpc_port, example, args.seconds, (1, 64), args.rounds)
        if native:
            native_unbatched = run_native_loads(rest_port, grpc_port, example, args.seconds, (1, 64), args.rounds)
    finally:
        stop_server(process)
    rollback_dir = os.path.join(os.path.dirname(SERVED_BASE), "rollback")
    rollbacks = {scenario: rollback_under_load(version_dir, example, scenario, rollback_dir)
                 for scenario in ("delete", "pin")}
    shutil.rmtree(rollback_dir, ignore_errors=True)

    rest_overhead_ms = unbatched["rest_c1"]["p50_ms"] - floor["p50_ms"]
    grpc_overhead_ms = unbatched["grpc_c1"]["p50_ms"] - floor["p50_ms"]
    rest_scaling = batched["rest_c64"]["requests_per_s"] / batched["rest_c1"]["requests_per_s"]
    grpc_scaling = batched["grpc_c64"]["requests_per_s"] / batched["grpc_c1"]["requests_per_s"]
    failed = sum(r["failed"] for r in rollbacks.values())
    ratios = {
        "rest_p50_c1_over_in_process_ms": round(rest_overhead_ms, 3),
        "grpc_p50_c1_over_in_process_ms": round(grpc_overhead_ms, 3),
        "rest_p50_c1_ratio_to_in_process": round(unbatched["rest_c1"]["p50_ms"] / floor["p50_ms"], 2),
        "grpc_p50_c1_ratio_to_in_process": round(unbatched["grpc_c1"]["p50_ms"] / floor["p50_ms"], 2),
        "rest_throughput_c64_over_c1": round(rest_scaling, 2),
        "grpc_throughput_c64_over_c1": round(grpc_scaling, 2),
        "rest_throughput_c64_batching_over_no_batching": round(
            batched["rest_c64"]["requests_per_s"] / unbatched["rest_c64"]["requests_per_s"], 2),
        "rollback_failed_requests": failed,
    }
    if native:
        ratios.update({
            "c_client_rest_p50_c1_over_in_process_ms": round(native_unbatched["rest_c1"]["p50_ms"] - floor["p50_ms"], 3),
            "c_client_grpc_throughput_c64_over_c1": round(
                native_batched["grpc_c64"]["requests_per_s"] / native_batched["grpc_c1"]["requests_per_s"], 2),
            "bare_http_p50_c1_ms": round(bare["p50_ms"], 3),
            "c_client_rest_p50_c1_over_bare_http_ms": round(native_unbatched["rest_c1"]["p50_ms"] - bare["p50_ms"], 3),
            "c_client_rest_throughput_c64_over_c1": round(
                native_batched["rest_c64"]["requests_per_s"] / native_batched["rest_c1"]["requests_per_s"], 2),
        })
    print(f"REST p50 at c=1 (no batching) is {rest_overhead_ms:.3f} ms above the in-process call (target <= 0.2 ms): "
          f"{'met' if rest_overhead_ms <= 0.2 else 'NOT met'}")
    print(f"gRPC p50 at c=1 (no batching) is {grpc_overhead_ms:.3f} ms above the in-process call")
    print(f"gRPC throughput c=64 / c=1 with batching: {grpc_scaling:.2f}x (target >= 8x): "
          f"{'met' if grpc_scaling >= 8 else 'NOT met'}; REST: {rest_scaling:.2f}x")
    print(f"REST c=64 with / without batching: {ratios['rest_throughput_c64_batching_over_no_batching']:.2f}x")
    if native:
        c_rest = ratios["c_client_rest_p50_c1_over_in_process_ms"]
        c_grpc = ratios["c_client_grpc_throughput_c64_over_c1"]
        print(f"with C clients (wrk, h2load): REST p50 at c=1 is {c_rest:.3f} ms above the in-process call "
              f"(target <= 0.2 ms): {'met' if c_rest <= 0.2 else 'NOT met'}; gRPC throughput c=64 / c=1 with "
              f"batching {c_grpc:.2f}x (target >= 8x): {'met' if c_grpc >= 8 else 'NOT met'}")
        print(f"the HTTP stack alone (uvicorn, no model, C client) answers at p50 {bare['p50_ms']:.3f} ms; penstock's "
              f"REST adds {ratios['c_client_rest_p50_c1_over_bare_http_ms']:.3f} ms to it, the model run included")
    print(f"rollbacks under load: {failed} failed requests (target 0): {'met' if failed == 0 else 'NOT met'}")

    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump({
            "model": model_kind, "model_path": version_dir,
            "request": "predict, 1 serialized tf.Example, signature serving_default",
            "seconds_per_level": args.seconds, "rounds": args.rounds, "reported": "best round per level",
            "cpus": os.cpu_count(), "load_average_at_start": round(load_avg, 2),
            "python": platform.python_version(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "in_process": floor, "batching": batched, "no_batching": unbatched,
            "c_client": {"tools": "wrk 4.1.0 (REST), h2load 1.52.0 (gRPC, one connection)",
                         "bare_http": bare, "batching": native_batched, "no_batching": native_unbatched}
            if native else None,
            "rollback": rollbacks,
            "ratios": ratios,
        }, f, indent=2)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
