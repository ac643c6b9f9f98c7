"""``penstock rollback``: pins an earlier blessed version in models.config (TF Serving's documented
way), recorded in ML Metadata; a server reading that file switches without failing one request;
a version never blessed is refused unless forced."""

from __future__ import annotations

import base64
import glob
import gzip
import json
import os
import shutil
import subprocess

import pytest

from penstock.metadata import connection
from penstock.metadata.store import MetadataStore
from penstock.registry.catalog import Catalog
from penstock.serving.server import ModelServer, ServerOptions
from tests._client_loop import ClientLoop, running
from tests.conftest import PENSTOCK, PROJECT_ROOT
from tests.registry.conftest import copy_of

pytestmark = pytest.mark.slow  # the session's registry store runs the penguin pipeline


def _penstock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PENSTOCK, *args], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": PROJECT_ROOT})


def _policy(serving: str) -> object:
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    with open(os.path.join(serving, "models.config")) as f:
        config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
    return next(c for c in config.model_config_list.config if c.name == "penguin")


def _eval_example(registry) -> bytes:
    """One real eval tf.Example the pipeline's ExampleGen wrote (TFRecord framing: length, crc, data, crc)."""
    [path] = glob.glob(os.path.join(registry.home, "root", "CsvExampleGen", "examples", "*", "Split-eval", "*.gz"))
    with gzip.open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        f.read(4)
        return f.read(length)


def _predict_request(example: bytes, label: str | None):
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "penguin"
    if label:
        request.model_spec.version_label = label
    request.inputs["examples"].dtype = 7  # DT_STRING
    request.inputs["examples"].tensor_shape.dim.add(size=1)
    request.inputs["examples"].string_val.append(example)
    return request


def _serve(registry, serving: str, label: str | None = None) -> tuple[ModelServer, ClientLoop]:
    """``penstock serve`` reading the copy's models.config (polled every 0.2 s, as
    --model_config_file_poll_wait_seconds would), and a client loop on model penguin (or its label)."""
    server = ModelServer(None, ServerOptions(
        rest_port=0, grpc_port=0, model_config_file=os.path.join(serving, "models.config"),
        model_config_file_poll_wait_seconds=0.2, file_system_poll_wait_seconds=0.2, include_model_version=True,
    )).start()
    example = _eval_example(registry)
    body = json.dumps({"instances": [{"b64": base64.b64encode(example).decode()}]}).encode()
    path = "/v1/models/penguin" + (f"/labels/{label}" if label else "") + ":predict"
    loop = ClientLoop(server.rest_port, server.grpc_port, path, body, lambda answer: int(answer["model_version"]),
                      _predict_request(example, label))
    return server, loop


def test_rollback_and_forward_again_under_load_fail_no_request(registry, tmp_path):
    metadata, serving = copy_of(registry, str(tmp_path / "copy"))
    server, loop = _serve(registry, serving)
    address = f"http://127.0.0.1:{server.rest_port}"
    with running(loop, on_exit=server.stop):
        loop.wait_for(1)  # the session store's rollback pinned version 1
        released = _penstock("rollback", "penguin", "--to", "latest", "--reason", "fixed upstream",
                             "-m", metadata, "--serving-dir", serving, "--server", address)
        assert released.returncode == 0, released.stderr[-3000:]
        loop.wait_for(3)
        back = _penstock("rollback", "penguin", "--to", "2", "--reason", "v3 misclassifies Chinstrap",
                         "-m", metadata, "--serving-dir", serving, "--server", address)
        assert back.returncode == 0, back.stderr[-3000:]
        assert "now serving version 2" in back.stdout and "available versions 2" in back.stdout
        loop.wait_for(2)
        shown = _penstock("models", "penguin", "-m", metadata, "--serving-dir", serving, "--server", address)
        assert f"server {address}: version 2 AVAILABLE" in shown.stdout, shown.stdout
    assert loop.failures == []
    assert sum(len(v) for v in loop.versions.values()) > 20  # traffic really flowed throughout

    entry = _policy(serving)
    assert list(entry.model_version_policy.specific.versions) == [2]  # what tensorflow_model_server reads
    records = Catalog(MetadataStore(connection.parse(metadata))).rollbacks("penguin")
    assert [(r["to"], r["reason"]) for r in records[-2:]] == [("latest", "fixed upstream"),
                                                              ("2", "v3 misclassifies Chinstrap")]
    assert "specific 1" in records[-2]["before"] and "serving 3" in records[-1]["before"]


def test_a_version_never_blessed_is_refused_unless_forced(registry, tmp_path):
    metadata, serving = copy_of(registry, str(tmp_path / "copy"))
    # An operator copied a model in by hand: no push record, nothing in ML Metadata blesses it.
    shutil.copytree(os.path.join(serving, "penguin", "2"), os.path.join(serving, "penguin", "7"))
    os.remove(os.path.join(serving, "penguin", "7", "assets.extra", "penstock_push.json"))
    refused = _penstock("rollback", "penguin", "--to", "7", "--reason", "try it", "-m", metadata, "--serving-dir", serving)
    assert refused.returncode == 1
    assert "version 7 of penguin was never blessed" in refused.stderr and "--force" in refused.stderr
    assert list(_policy(serving).model_version_policy.specific.versions) == [1]  # unchanged

    missing = _penstock("rollback", "penguin", "--to", "42", "--reason", "x", "-m", metadata, "--serving-dir", serving)
    assert missing.returncode == 1 and "version 42 of penguin is not a complete version" in missing.stderr

    forced = _penstock("rollback", "penguin", "--to", "7", "--reason", "hotfix build", "--force",
                       "-m", metadata, "--serving-dir", serving)
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert list(_policy(serving).model_version_policy.specific.versions) == [7]
    record = Catalog(MetadataStore(connection.parse(metadata))).rollbacks("penguin")[-1]
    assert record["forced"] and record["to"] == "7" and record["reason"] == "hotfix build"


def test_a_label_moves_to_the_rolled_back_version_once_it_serves_under_load(registry, tmp_path):
    """Clients calling the label ``stable`` (on version 3) keep getting answers while the rollback
    first loads version 1 next to 3, then moves the label and drops 3."""
    from penstock.components.pusher.executor import edit_models_config

    metadata, serving = copy_of(registry, str(tmp_path / "copy"))

    def canary_setup(entry):
        entry.model_version_policy.Clear()
        entry.model_version_policy.specific.versions.append(3)
        entry.version_labels["stable"] = 3

    edit_models_config(serving, "penguin", canary_setup)
    server, loop = _serve(registry, serving, label="stable")
    address = f"http://127.0.0.1:{server.rest_port}"
    with running(loop, on_exit=server.stop):
        loop.wait_for(3)
        done = _penstock("rollback", "penguin", "--to", "1", "--reason", "canary regressed", "-m", metadata,
                         "--serving-dir", serving, "--server", address)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "serving versions 1, 3 until version 1 is available" in done.stdout
        loop.wait_for(1)
    assert loop.failures == []
    entry = _policy(serving)
    assert list(entry.model_version_policy.specific.versions) == [1] and dict(entry.version_labels) == {"stable": 1}


def test_labels_move_only_with_a_server_to_wait_for(registry, tmp_path):
    metadata, serving = copy_of(registry, str(tmp_path / "copy"))
    config = os.path.join(serving, "models.config")
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:  # a label on version 3, as a canary setup would have
        f.write(text.replace('name: "penguin"', 'name: "penguin"\n    version_labels { key: "stable" value: 3 }', 1))
    done = _penstock("rollback", "penguin", "--to", "1", "--reason", "x", "-m", metadata, "--serving-dir", serving)
    assert done.returncode == 1 and "stable -> 3" in done.stderr and "--server" in done.stderr


def test_rollback_of_a_serving_directory_on_an_object_store(registry, tmp_path, s3_store, monkeypatch):
    from penstock.components.pusher.executor import read_models_config
    from penstock.registry.rollback import rollback
    from penstock.registry.serving_state import serving_dir_state
    from penstock.storage import filesystem

    metadata, serving = copy_of(registry, str(tmp_path / "copy"))
    remote = s3_store.upload(serving, s3_store.fresh_prefix("serving"))
    s3_store.activate(monkeypatch)
    config = filesystem.join(remote, "models.config")
    filesystem.write_text(config, filesystem.read_text(config).replace(serving, remote))

    result = rollback(MetadataStore(connection.parse(metadata)), "penguin", 2, "bad canary", serving_dir=remote,
                      user="oncall")
    assert result.served == [2] and "serving 1" in result.before
    [entry] = [c for c in read_models_config(remote).model_config_list.config if c.name == "penguin"]
    assert list(entry.model_version_policy.specific.versions) == [2] and entry.base_path == f"{remote}/penguin"
    assert serving_dir_state(remote, "penguin")["on_disk"] == [1, 2, 3]
