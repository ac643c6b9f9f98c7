"""A bounded client loop for rollback tests: one REST and one gRPC client calling a model on a
server on loopback until stopped (or a request budget is used up), recording which version
answered each request and every failure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

MAX_REQUESTS = 20000  # per client: the loop is bounded even if a condition never comes


class ClientLoop:
    """``rest_version`` reads the answering version from a REST answer's JSON; gRPC answers name
    it in ``model_spec.version``."""

    def __init__(self, rest_port: int, grpc_port: int, rest_path: str, rest_body: bytes,
                 rest_version: Callable[[dict[str, Any]], int], grpc_request: Any) -> None:
        self.rest_port, self.grpc_port = rest_port, grpc_port
        self.rest_path, self.rest_body, self.rest_version = rest_path, rest_body, rest_version
        self.grpc_request = grpc_request
        self.failures: list[str] = []
        self.versions: dict[str, list[int]] = {"rest": [], "grpc": []}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._rest), threading.Thread(target=self._grpc)]

    def _rest(self) -> None:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{self.rest_port}", timeout=30) as client:
            while not self._stop.is_set() and len(self.versions["rest"]) < MAX_REQUESTS:
                r = client.post(self.rest_path, content=self.rest_body)
                if r.status_code != 200:
                    self.failures.append(f"REST {r.status_code}: {r.text[:200]}")
                else:
                    self.versions["rest"].append(self.rest_version(r.json()))

    def _grpc(self) -> None:
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self._stop.is_set() and len(self.versions["grpc"]) < MAX_REQUESTS:
                try:
                    response = stub.Predict(self.grpc_request, timeout=30)
                    self.versions["grpc"].append(response.model_spec.version.value)
                except grpc.RpcError as e:
                    self.failures.append(f"gRPC {e.code()}: {e.details()}")

    def wait_for(self, version: int, timeout: float = 60) -> None:
        """Until both clients got an answer from ``version`` after this call."""
        start = {k: len(v) for k, v in self.versions.items()}
        deadline = time.monotonic() + timeout
        while not all(version in v[start[k]:] for k, v in self.versions.items()):
            assert time.monotonic() < deadline, f"no answer from version {version}; failures: {self.failures[:3]}"
            assert all(len(v) < MAX_REQUESTS for v in self.versions.values()), "request budget used up"
            time.sleep(0.05)

    def only(self, version: int, last: int = 5) -> bool:
        """The last ``last`` answers of both clients all came from ``version``."""
        return all(len(v) >= last and set(v[-last:]) == {version} for v in self.versions.values())


@contextmanager
def running(loop: ClientLoop, on_exit: Callable[[], None] = lambda: None) -> Iterator[ClientLoop]:
    """Run the loop's clients for the ``with`` block; ``on_exit`` runs after they stop."""
    for thread in loop._threads:
        thread.start()
    try:
        yield loop
    finally:
        loop._stop.set()
        for thread in loop._threads:
            thread.join(timeout=60)
        on_exit()
