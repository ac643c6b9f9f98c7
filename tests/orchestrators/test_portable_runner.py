"""Beam portability: the data components run unchanged on Beam's PortableRunner, against a real
local job service this test starts and stops, selected only through ``beam_pipeline_args`` (the
same mechanism that selects Dataflow, Flink or Spark)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from penstock.components.example_gen import CsvExampleGen
from penstock.components.statistics_gen.component import StatisticsGen
from penstock.dsl.pipeline import Pipeline
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.local.runner import LocalRunner
from tests.conftest import PROJECT_ROOT

PENGUINS = os.path.join(PROJECT_ROOT, "examples", "penguin", "data", "penguins.csv")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def job_service(tmp_path_factory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("job_service") / "job_service.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", f"--port={port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"job service exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("localhost", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("job service did not start listening within 60 s")
                time.sleep(0.2)
        yield f"localhost:{port}", log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_example_gen_and_statistics_gen_run_on_the_portable_runner(tmp_path, job_service):
    import tensorflow_data_validation as tfdv

    endpoint, log_path = job_service
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(PENGUINS, data / "penguins.csv")
    portable = ["--runner=PortableRunner", f"--job_endpoint={endpoint}", "--environment_type=LOOPBACK"]
    example_gen = CsvExampleGen(input_base=str(data))
    statistics = StatisticsGen(examples=example_gen.outputs["examples"])
    pipeline = Pipeline("portable", [example_gen, statistics], pipeline_root=str(tmp_path / "root"),
                        metadata=str(tmp_path / "m.sqlite"), beam_pipeline_args=portable)

    result = LocalRunner().run(pipeline)
    assert result.succeeded, result.errors

    # Both Beam jobs went through the job service: it logs each job it runs.
    service_log = log_path.read_text()
    assert service_log.count("with state DONE") == 2, service_log[-3000:]

    stats_artifact = result.outputs["StatisticsGen"]["statistics"]
    counts = {}
    for split in stats_artifact.split_names:
        stats = tfdv.load_stats_binary(os.path.join(stats_artifact.split_uri(split), "FeatureStats.pb"))
        [dataset] = stats.datasets
        counts[split] = dataset.num_examples
        assert {f.path.step[0] for f in dataset.features} >= {"species", "culmen_length_mm", "body_mass_g"}
    rows = sum(1 for _ in open(PENGUINS)) - 1
    assert sum(counts.values()) == rows and set(counts) == {"train", "eval"}

    # The runner is part of each execution's cache key; the endpoint and environment are not
    # (they cannot change results), so moving to another job service keeps the cache.
    records = MetadataStore(pipeline.metadata).run_executions(result.run_id)
    assert [r.component_id for r in records] == ["CsvExampleGen", "StatisticsGen"]
    for record in records:
        assert '"beam_args":["--runner=PortableRunner"]' in record.properties["cache_key_json"]


def test_workers_that_may_not_share_this_disk_are_refused_a_local_root(tmp_path):
    """An EXTERNAL worker pool may run anywhere: its shards would land on its own disk and the
    artifact would be recorded empty. The run refuses before any work (nothing reaches Beam: the
    job endpoint here does not even exist) and names the local path."""
    external = ["--runner=PortableRunner", "--job_endpoint=127.0.0.1:9", "--environment_type=EXTERNAL",
                "--environment_config=127.0.0.1:9"]
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(PENGUINS, data / "penguins.csv")
    pipeline = Pipeline("portable_local", [CsvExampleGen(input_base=str(data))], pipeline_root=str(tmp_path / "root"),
                        metadata=str(tmp_path / "m.sqlite"), beam_pipeline_args=external)
    outcome = LocalRunner().run(pipeline).outcomes["CsvExampleGen"]
    assert outcome.state == "FAILED" and not outcome.retryable
    assert "PortableRunner runs workers that may not share this machine's disk" in (outcome.error or "")
    assert str(tmp_path / "root") in (outcome.error or "") and "object-store pipeline root" in (outcome.error or "")
