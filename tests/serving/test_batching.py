"""Request batching under concurrency: it is off unless enabled; when enabled it stacks only the
models that declare it (TF Serving's per-model batching_params.pbtxt), so a model whose answer
depends on the batch (``y = x - mean(x)``) never answers one client with another's data, while a
declared model's requests are stacked and each gets exactly its own answer; a bad request stacked
with good ones fails alone."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from _serving_models import declare_batchable, make_example, push_version

from penstock.serving.batching import BatchingOptions
from penstock.serving.config import ModelConfig
from penstock.serving.server import ModelServer

THREADS = 16
REQUESTS_PER_THREAD = 12


@pytest.fixture(scope="module")
def batching_server(tmp_path_factory: pytest.TempPathFactory, taxi_template: str, centered_template: str,
                    start_server: Callable[..., ModelServer]) -> ModelServer:
    root = tmp_path_factory.mktemp("batching")
    declare_batchable(push_version(taxi_template, str(root / "taxi"), 2))  # rows independent: declared
    push_version(centered_template, str(root / "centered"), 1)  # y = x - mean(x): not declared
    return start_server([ModelConfig("taxi", str(root / "taxi")), ModelConfig("centered", str(root / "centered"))],
                        batching=BatchingOptions(max_batch_size=32, num_batch_threads=1))


def batch_sizes(metrics_text: str, model: str, signature: str) -> tuple[float, float]:
    """(model calls, rows) the batcher made for a model's signature."""
    labels = rf'\{{model_name="{model}",version="\d+",signature="{signature}"\}}'
    count = re.search(r":penstock:serving:batch_size_count" + labels + r" (\S+)", metrics_text)
    total = re.search(r":penstock:serving:batch_size_sum" + labels + r" (\S+)", metrics_text)
    return (float(count[1]), float(total[1])) if count and total else (0.0, 0.0)


def concurrently(worker: Callable[[int], list[Any]]) -> list[Any]:
    barrier = threading.Barrier(THREADS)

    def run(thread: int) -> list[Any]:
        barrier.wait()
        return worker(thread)

    with ThreadPoolExecutor(THREADS) as pool:
        return [r for rs in pool.map(run, range(THREADS)) for r in rs]


def test_a_batch_dependent_model_never_sees_other_clients_rows(batching_server: ModelServer) -> None:
    url = f"http://127.0.0.1:{batching_server.rest_port}"

    def worker(thread: int) -> list[Any]:
        answers = []
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(REQUESTS_PER_THREAD):
                a = float(thread * 1000 + i)  # every request's rows are its own
                # alone, [a, a + 1] - mean = [-0.5, 0.5] whatever a is; stacked with others it is not
                answers.append(client.post("/v1/models/centered:predict", json={"instances": [a, a + 1]}).json())
                # the declared model runs concurrently, so the batcher is busy stacking meanwhile
                client.post("/v1/models/taxi:predict", json={"instances": [
                    {"b64": base64.b64encode(make_example(fare=a)).decode()}]})
        return answers

    answers = concurrently(worker)
    assert len(answers) == THREADS * REQUESTS_PER_THREAD
    assert all(answer == {"predictions": [-0.5, 0.5]} for answer in answers), [
        a for a in answers if a != {"predictions": [-0.5, 0.5]}][:5]
    text = httpx.get(url + "/monitoring/prometheus/metrics").text
    calls, rows = batch_sizes(text, "taxi", "serving_default")
    assert calls < rows, "the declared model was not batched: this test would prove nothing"
    assert batch_sizes(text, "centered", "serving_default") == (0.0, 0.0)


def test_stacked_requests_get_exactly_their_own_answer(batching_server: ModelServer) -> None:
    url = f"http://127.0.0.1:{batching_server.rest_port}"
    with batching_server.registry.acquire("taxi") as handle:
        sig = handle.servable.signatures["serving_default"]
        fares = [float(f) for f in range(THREADS * REQUESTS_PER_THREAD)]
        examples = np.array([make_example(fare=f) for f in fares], dtype=object)
        expected = sig.run({"examples": examples}, ("outputs",))["outputs"]
    calls_before, rows_before = batch_sizes(httpx.get(url + "/monitoring/prometheus/metrics").text, "taxi",
                                            "serving_default")
    bad_example = {"b64": base64.b64encode(b"not an example").decode()}

    def worker(thread: int) -> list[tuple[int, Any]]:
        results = []
        with httpx.Client(base_url=url, timeout=30) as client:
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

    results = concurrently(worker)
    bad = [status for index, status in results if index < 0]
    good = [(index, value) for index, value in results if index >= 0]
    assert bad and all(status == 400 for status in bad)
    for index, value in good:
        # float32: a batched matmul may sum in another order than the single call (a few ULPs).
        assert value == pytest.approx(float(expected[index]), rel=1e-5, abs=1e-6), (index, value)
    calls, rows = batch_sizes(httpx.get(url + "/monitoring/prometheus/metrics").text, "taxi", "serving_default")
    assert rows - rows_before >= len(good)
    assert calls - calls_before < rows - rows_before, "no request was stacked with another"


def test_batching_is_off_by_default(taxi_server: ModelServer) -> None:
    assert taxi_server.options.batching is None
    with taxi_server.registry.acquire("taxi") as handle:
        assert handle.scheduler is None
