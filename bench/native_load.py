"""Load from C programs for ``bench/serving.py``: ``wrk`` (REST) and ``h2load`` (gRPC over h2c).

Why: on a 2-core machine the load generator shares the CPUs with the server, and a Python client
(asyncio, grpc.aio) spends about as much CPU per request as the server does, so its figures mix
the two. wrk and h2load spend a few microseconds per request; what they measure is the server.
Both come from Debian (pinned below) and are installed on first use when missing (root only).

h2load does not read gRPC trailers: a call that fails with an OK HTTP status would count as
done. The benchmark checks the same request with TF Serving's own stubs first (typed fields, no
error), and the server answers every call of a run the same way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from typing import Any

DEBIAN_PACKAGES = {"wrk": "wrk=4.1.0-3+b2", "h2load": "nghttp2-client=1.52.0-1+deb12u3"}


def available() -> bool:
    """True when both programs are on PATH, after installing them with apt if this is root."""
    missing = [tool for tool in DEBIAN_PACKAGES if shutil.which(tool) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        from tests.servers.apt import apt_lock  # one installer at a time, the tests' own included

        packages = [DEBIAN_PACKAGES[tool] for tool in missing]
        with apt_lock():
            subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=False,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, capture_output=True)
    return all(shutil.which(tool) for tool in DEBIAN_PACKAGES)


def _duration_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def rest(port: int, path: str, body: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    """wrk on one thread with ``concurrency`` keep-alive connections POSTing ``body`` as JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                     f"wrk.body = {json.dumps(body.decode())}\n")
    try:
        subprocess.run(["wrk", "-t1", f"-c{concurrency}", "-d1s", "-s", script.name, f"http://127.0.0.1:{port}{path}"],
                       check=True, capture_output=True)  # warm-up
        out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--latency", "-s", script.name,
                              f"http://127.0.0.1:{port}{path}"], check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(script.name)
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", out, re.MULTILINE))
    done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    assert done is not None, out
    elapsed = float(done[2]) / (1000 if done[3] == "ms" else 1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": int(done[1]),
        "p50_ms": round(_duration_ms(percentiles["50"]), 3),
        "p99_ms": round(_duration_ms(percentiles["99"]), 3),
        "requests_per_s": round(int(done[1]) / elapsed, 1),
        "errors": (int(errors[1]) if errors else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
    }


def grpc(port: int, method: str, request: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    """h2load on one HTTP/2 connection with ``concurrency`` streams in flight (as one gRPC channel
    carries a client's concurrent calls), each sending ``request`` (a serialized message) to
    ``method`` (``/package.Service/Method``)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".grpc", delete=False) as data:
        data.write(b"\x00" + struct.pack(">I", len(request)) + request)  # gRPC framing: uncompressed, length
    try:
        out = subprocess.run(["h2load", "-c1", f"-m{concurrency}", "-D", f"{seconds:g}", "--warm-up-time=1",
                              "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", data.name,
                              f"http://127.0.0.1:{port}{method}"], check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(data.name)
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    counts = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    assert rate is not None and counts is not None and mean is not None, out
    return {
        "requests": int(counts[2]),
        "mean_ms": round(_duration_ms(mean[1]), 3),
        "requests_per_s": float(rate[1]),
        "errors": int(counts[4]) + int(counts[5]),
    }
