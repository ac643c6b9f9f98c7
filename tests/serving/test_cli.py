"""``penstock serve`` as a user runs it: a real process, loopback ports, clean shutdown on SIGTERM;
and usage mistakes answered with a clear message, not a traceback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
from _serving_models import push_version
from click.testing import CliRunner

from penstock.serving.cli import serve

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_serve_process_answers_and_stops_on_sigterm(tmp_path: Any, taxi_template: str) -> None:
    base = str(tmp_path / "taxi")
    push_version(taxi_template, base, 3)
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "penstock.serving.cli", "--model-name", "taxi", "--model-base-path", base,
             "--rest-api-port", "0", "--port", "0"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": REPO})
    try:
        deadline = time.monotonic() + 90
        match = None
        while match is None:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
            match = re.search(r"REST http://127\.0\.0\.1:(\d+)\s+gRPC 127\.0\.0\.1:(\d+)", log_path.read_text())
        status = httpx.get(f"http://127.0.0.1:{match[1]}/v1/models/taxi", timeout=10).json()
        assert status["model_version_status"][0]["version"] == "3"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "model taxi version 3 is available" in log_path.read_text()


def test_usage_mistakes_are_explained(tmp_path: Any) -> None:
    runner = CliRunner()
    result = runner.invoke(serve, [])
    assert result.exit_code == 2 and "--model-base-path" in result.output
    result = runner.invoke(serve, ["--model-name", "../x", "--model-base-path", str(tmp_path)])
    assert result.exit_code == 1 and "model name '../x' is not allowed" in result.output
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'a' }")
    result = runner.invoke(serve, ["--model-config-file", str(config)])
    assert result.exit_code == 1 and "not a valid ModelServerConfig" in result.output
    result = runner.invoke(serve, ["--model-config-file", str(tmp_path / "missing.config")])
    assert result.exit_code == 1 and "cannot be read" in result.output
