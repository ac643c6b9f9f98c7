"""``penstock serve`` as a team replacing ``tensorflow_model_server`` runs it: TF Serving's command
lines (underscore flags, ``=true`` values, its config files) and its Docker image's environment,
in real processes on loopback, stopped by SIGTERM; and usage mistakes answered as TF Serving
answers them, without a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from _serving_models import declare_batchable, push_version
from click.testing import CliRunner

from penstock.serving.cli import build_options, serve

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_process(args: list[str], log_path: Any, env: dict[str, str] | None = None) -> Iterator[str]:
    """``penstock serve ARGS`` in its own process; yields its log once it is ready."""
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "penstock", "serve", *args], cwd=REPO, stdout=log,
                                   stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": REPO, **(env or {})})
    try:
        deadline = time.monotonic() + 120
        while "penstock serve: REST" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield log_path.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_docker_image_environment(tmp_path: Any, tf1_templates: dict[int, str]) -> None:
    """TF Serving's image runs ``--model_name=$MODEL_NAME --model_base_path=$MODEL_BASE_PATH/$MODEL_NAME``
    plus whatever flags the user adds; the REST example of api_rest.md, as documented."""
    push_version(tf1_templates[2], str(tmp_path / "models" / "saved_model_half_plus_three"), "00000123")
    rest, grpc_port = free_port(), free_port()
    env = {"MODEL_BASE_PATH": str(tmp_path / "models"), "MODEL_NAME": "saved_model_half_plus_three"}
    args = [f"--port={grpc_port}", f"--rest_api_port={rest}", "--host=127.0.0.1"]
    with serve_process(args, tmp_path / "serve.log", env) as log:
        assert f"REST http://127.0.0.1:{rest}  gRPC 127.0.0.1:{grpc_port}" in log
        url = f"http://127.0.0.1:{rest}/v1/models/saved_model_half_plus_three"
        assert httpx.get(url, timeout=10).json()["model_version_status"][0]["version"] == "123"
        r = httpx.post(url + ":predict", content=b'{"instances": [1.0,2.0,5.0]}', timeout=10)
        assert r.json() == {"predictions": [3.5, 4.0, 5.5]}


def test_tf_serving_command_line(tmp_path: Any, tf1_templates: dict[int, str]) -> None:
    """A tensorflow_model_server command line with its config files, spelled as TF Serving spells it."""
    base = str(tmp_path / "half")
    declare_batchable(push_version(tf1_templates[1], base, 1))
    (tmp_path / "models.config").write_text(
        f'model_config_list {{ config {{ name: "half" base_path: "{base}" model_platform: "tensorflow" '
        'version_labels { key: "stable" value: 1 } } }')
    (tmp_path / "batching.config").write_text("max_batch_size { value: 16 }\nbatch_timeout_micros { value: 0 }\n"
                                              "num_batch_threads { value: 1 }\n")
    (tmp_path / "monitoring.config").write_text('prometheus_config { enable: true, path: "/metrics/tfs" }')
    rest = free_port()
    args = [f"--port={free_port()}", f"--rest_api_port={rest}", f"--model_config_file={tmp_path / 'models.config'}",
            "--model_config_file_poll_wait_seconds=60", "--enable_batching=true",
            f"--batching_parameters_file={tmp_path / 'batching.config'}",
            f"--monitoring_config_file={tmp_path / 'monitoring.config'}", "--rest_api_timeout_in_ms=20000",
            "--rest_api_enable_cors_support", "--saved_model_tags=serve", "--file_system_poll_wait_seconds=1",
            "--allow_version_labels_for_unavailable_models=true", "--enable_grpc_healthcheck_service=true",
            "--grpc_channel_arguments=grpc.max_connection_age_ms=600000", "--tensorflow_intra_op_parallelism=2",
            "--tensorflow_inter_op_parallelism=2", "--num_load_threads=2", "--enable_model_warmup=false"]
    with serve_process(args, tmp_path / "serve.log") as log:
        assert "accepted with no effect in penstock: --num_load_threads" in log
        url = f"http://127.0.0.1:{rest}"
        r = httpx.post(url + "/v1/models/half/labels/stable:predict", content=b'{"instances": [[2.0]]}', timeout=10)
        assert r.json() == {"predictions": [[3.0]]}
        assert r.headers["access-control-allow-origin"] == "*"
        metrics = httpx.get(url + "/metrics/tfs", timeout=10).text
        assert ':tensorflow:serving:request_count{model_name="half",status="OK"} 1' in metrics
        assert "batch_size" in metrics  # declared batchable and batching enabled: it went through the batcher
        assert httpx.get(url + "/monitoring/prometheus/metrics", timeout=10).status_code == 404


def parse(args: list[str], env: dict[str, str] | None = None) -> tuple[Any, Any]:
    """The server the command line would start (flags parsed by the real command)."""
    context = serve.make_context("serve", list(args))
    return build_options(context.params, env or {})


def test_flag_spellings_and_defaults(tmp_path: Any) -> None:
    models, options = parse(["--model_base_path", str(tmp_path)])
    assert [(m.name, m.base_path) for m in models] == [("default", str(tmp_path))]
    assert options.grpc_port == 8500 and options.rest_port is None  # REST is off unless asked for
    assert options.batching is None and options.monitoring.prometheus_enabled is False
    for args in (["--enable_batching"], ["--enable_batching=true"], ["--enable-batching", "true"],
                 ["--enable-batching=1"]):
        assert parse(["--model_base_path", str(tmp_path), *args])[1].batching is not None, args
    assert parse(["--model_base_path", str(tmp_path), "--enable_batching=false"])[1].batching is None
    # TF Serving's flags take the last value given (the Docker entrypoint relies on it)
    assert parse(["--model_base_path=/a", "--model_base_path=/b"])[0][0].base_path == "/b"
    models, options = parse(["--model-name", "taxi", "--model-base-path", str(tmp_path), "--port", "9000",
                             "--rest-api-port", "9001", "--grpc_channel_arguments=a=1,b=x", "--saved_model_tags=serve,gpu"])
    assert models[0].name == "taxi" and (options.grpc_port, options.rest_port) == (9000, 9001)
    assert options.grpc_channel_arguments == [("a", 1), ("b", "x")] and options.saved_model_tags == ("serve", "gpu")
    assert options.host == "127.0.0.1"
    # the Docker image's variables, and its ports on every interface
    models, options = parse([], {"MODEL_NAME": "m", "MODEL_BASE_PATH": "/models"})
    assert (models[0].name, models[0].base_path) == ("m", "/models/m")
    assert (options.host, options.grpc_port, options.rest_port) == ("0.0.0.0", 8500, 8501)


@pytest.mark.parametrize(("args", "message"), [
    ([], "Both server_options.model_base_path and server_options.model_config_file are empty!"),
    (["--model_base_path=/m", "--port=0"], "At least one of server_options.grpc_port or"),
    (["--model_base_path=/m", "--batching_parameters_file=/b"], "batching_parameters_file is set without setting"),
    (["--model_base_path=/m", "--use_alts_credentials=true"], "ALTS credentials are not supported"),
    (["--model_base_path=/m", "--tensorflow_session_parallelism=1", "--tensorflow_intra_op_parallelism=1",
      "--tensorflow_inter_op_parallelism=1"], "You cannot configure all."),
    (["--model_name=../x", "--model_base_path=/m"], "model name '../x' is not allowed"),
    (["--model_config_file=/nonexistent/models.config"], "cannot be read"),
    (["--model_base_path=/m", "--port=abc"], "'abc' is not a valid integer"),
])
def test_usage_mistakes_are_explained(args: list[str], message: str) -> None:
    result = CliRunner().invoke(serve, args, env={"MODEL_NAME": None, "MODEL_BASE_PATH": None})
    assert result.exit_code in (1, 2), result.output
    assert message in result.output
    assert "Traceback" not in result.output
