"""Request batching under concurrency: requests are stacked into shared model calls, each gets
exactly its own answer, and a bad request stacked with good ones fails alone."""

from __future__ import annotations

import base64
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from _serving_models import make_example

from penstock.serving.server import ModelServer

THREADS = 16
REQUESTS_PER_THREAD = 12


def batch_sizes(metrics_text: str) -> tuple[float, float]:
    """(model calls, rows) recorded by the batch-size histogram for serving_default of taxi v2."""
    labels = r'\{model="taxi",signature="serving_default",version="2"\}'
    count = re.search(r"penstock_serving_batch_size_count" + labels + r" (\S+)", metrics_text)
    total = re.search(r"penstock_serving_batch_size_sum" + labels + r" (\S+)", metrics_text)
    return (float(count[1]), float(total[1])) if count and total else (0.0, 0.0)


def test_concurrent_requests_are_batched_and_answered_individually(taxi_server: ModelServer) -> None:
    url = f"http://127.0.0.1:{taxi_server.rest_port}"
    with taxi_server.registry.acquire("taxi") as handle:
        sig = handle.servable.signature("serving_default")
        fares = [float(f) for f in range(THREADS * REQUESTS_PER_THREAD)]
        examples = np.array([make_example(fare=f) for f in fares], dtype=object)
        expected = sig.run({"examples": examples})["outputs"]
    calls_before, rows_before = batch_sizes(httpx.get(url + "/monitoring/prometheus/metrics").text)
    barrier = threading.Barrier(THREADS)
    bad_example = {"b64": base64.b64encode(b"not an example").decode()}

    def worker(thread: int) -> list[tuple[int, Any]]:
        results = []
        with httpx.Client(base_url=url, timeout=30) as client:
            barrier.wait()
            for i in range(REQUESTS_PER_THREAD):
                index = thread * REQUESTS_PER_THREAD + i
                instance = {"b64": base64.b64encode(bytes(examples[index])).decode()}
                if i % 5 == 4 and thread % 2:  # some bad requests mixed into the stream
                    r = client.post("/v1/models/taxi:predict", json={"instances": [bad_example]})
                    results.append((-1, r.status_code))
                else:
                    r = client.post("/v1/models/taxi:predict", json={"instances": [instance]})
                    results.append((index, r.json()["predictions"][0] if r.status_code == 200 else r.text))
        return results

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for rs in pool.map(worker, range(THREADS)) for r in rs]
    bad = [status for index, status in results if index < 0]
    good = [(index, value) for index, value in results if index >= 0]
    assert bad and all(status == 400 for status in bad)
    for index, value in good:
        # float32: a batched matmul may sum in another order than the single call (a few ULPs).
        assert value == pytest.approx(float(expected[index]), rel=1e-5, abs=1e-6), (index, value)
    calls, rows = batch_sizes(httpx.get(url + "/monitoring/prometheus/metrics").text)
    assert rows - rows_before >= len(good)
    assert calls - calls_before < rows - rows_before, "no request was stacked with another"
