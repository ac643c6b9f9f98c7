"""Real object stores on loopback for the tests: an S3 server (moto) and a GCS emulator
(gcp-storage-emulator), each a subprocess started by a session fixture and stopped at the end.

Clients are pointed at them the way a user points theirs at MinIO or an emulator, through the
stores' own variables (``AWS_ENDPOINT_URL``, ``STORAGE_EMULATOR_HOST``): ``store.env`` holds them
for subprocesses, ``store.activate(monkeypatch)`` sets them in the test process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator

BIN = os.path.dirname(sys.executable)


@dataclasses.dataclass
class ObjectStore:
    scheme: str  # "s3" or "gs"
    bucket: str
    endpoint: str
    env: dict[str, str]

    def uri(self, *parts: str) -> str:
        return "/".join([f"{self.scheme}://{self.bucket}", *(p.strip("/") for p in parts)])

    def fresh_prefix(self, name: str = "t") -> str:
        """A URI no other test writes under."""
        return self.uri(f"{name}-{uuid.uuid4().hex[:8]}")

    def activate(self, monkeypatch) -> None:
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)

    def upload(self, local_dir: str, uri: str) -> str:
        """Copy a local folder's files under ``uri`` (with penstock's own filesystem layer)."""
        from penstock.storage import filesystem

        with _environment(self.env):
            filesystem.copy_tree(local_dir, uri)
        return uri


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with code {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:  # answering, even if with an error: it is up
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: the server did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def _server(command: list[str], url: str, log_path: str) -> Iterator[subprocess.Popen]:
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_http(url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
          "AWS_DEFAULT_REGION": "us-east-1"}


@contextlib.contextmanager
def s3_server(workdir: str, bucket: str = "penstock") -> Iterator[ObjectStore]:
    """moto's S3 server; ``AWS_ENDPOINT_URL`` points every client (penstock's, boto3/Beam's,
    TensorFlow's through tensorflow-io) at it."""
    if shutil.which("moto_server", path=BIN) is None:
        import pytest

        pytest.skip("moto[server] is not installed (it is a dev dependency: ./dev.sh setup)")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with _server([os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)], endpoint,
                 os.path.join(workdir, "moto.log")):
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"), timeout=10).read()
        yield ObjectStore("s3", bucket, endpoint, {**S3_ENV, "AWS_ENDPOINT_URL": endpoint})


# gcp-storage-emulator, answering "Expect: 100-continue" as Google's servers do. Its HTTP/1.0
# handler never sends "100 Continue", so every upload from Google's C++ client (pyarrow's
# GcsFileSystem) waited a full second for it (libcurl's timeout) before sending the body: 1 s per
# object written, which real GCS does not cost.
GCS_EMULATOR_ANSWERING_EXPECT = """
import sys
from gcp_storage_emulator import server
from gcp_storage_emulator.__main__ import main

parse_request = server.RequestHandler.parse_request

def parse_request_answering_expect(self):
    if not parse_request(self):
        return False
    if self.headers.get("Expect", "").lower() == "100-continue":
        self.wfile.write(b"HTTP/1.1 100 Continue\\r\\n\\r\\n")
        self.wfile.flush()
    return True

server.RequestHandler.parse_request = parse_request_answering_expect
sys.argv[0] = "gcp-storage-emulator"
sys.exit(main())
"""


@contextlib.contextmanager
def gcs_server(workdir: str, bucket: str = "penstock") -> Iterator[ObjectStore]:
    """gcp-storage-emulator; ``STORAGE_EMULATOR_HOST`` points Google's clients, Beam and
    penstock at it (TensorFlow's GCS filesystem cannot be pointed at an emulator)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", GCS_EMULATOR_ANSWERING_EXPECT, "start", "-H", "127.0.0.1", "--port", str(port),
               "--default-bucket", bucket, "-M"]
    with _server(command, f"{endpoint}/storage/v1/b", os.path.join(workdir, "gcs.log")):
        yield ObjectStore("gs", bucket, endpoint, {"STORAGE_EMULATOR_HOST": endpoint})
