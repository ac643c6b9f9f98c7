"""Beyond one machine, through ``penstock run``: the penguin pipeline with its root, input data and
serving directory on an object store (S3 on loopback), ML Metadata on MariaDB, and its Beam
components (ExampleGen, StatisticsGen, Transform, Evaluator) on Dask workers that do not share
this machine's disk (a private tmpfs over the test's folder, as another machine would have).
The run is killed mid-way, resumed, and collected: every LIVE artifact has its files, the row
counts are what the workers wrote, nothing is orphaned, and nothing was written locally.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import PENSTOCK, PROJECT_ROOT

PIPELINE = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, os.path.join({project!r}, "examples", "penguin"))
    from pipeline import create_pipeline

    beam = ["--runner=DaskRunner", "--dask_client_address=" + os.environ["DASK_ADDRESS"]]
    pipeline = create_pipeline(name="penguin_remote", pipeline_root={root!r}, serving_dir={serving!r},
                               beam_pipeline_args=beam)
    pipeline.node("CsvExampleGen").parameters["input_base"] = {data!r}
""")


def _unshared(command: list[str], private: str) -> list[str]:
    """``command`` in a mount namespace where ``private`` is an empty tmpfs: the process cannot
    see (or leave) anything there, as a worker on another machine could not."""
    script = f"mount -t tmpfs tmpfs {private} && exec " + " ".join(map(_quote, command))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory, s3_store):
    """A scheduler and one worker process; the worker sees an empty tmpfs over the folder where the
    client keeps its home, working directory and scratch space."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to give the worker a private view of the disk")
    from tests.servers.object_stores import free_port

    private = tmp_path_factory.mktemp("client")
    logs = tmp_path_factory.mktemp("dask-logs")
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, **s3_store.env, "PYTHONPATH": PROJECT_ROOT, "TF_USE_LEGACY_KERAS": "1"}
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [
        subprocess.Popen([os.path.join(bin_dir, "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                          "--dashboard-address", ":0"], env=env, start_new_session=True,
                         stdout=open(logs / "scheduler.log", "wb"), stderr=subprocess.STDOUT),
    ]
    time.sleep(2)
    processes.append(subprocess.Popen(
        _unshared([os.path.join(bin_dir, "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                   "--dashboard-address", ":0", "--host", "127.0.0.1"], str(private)),
        env=env, start_new_session=True, stdout=open(logs / "worker.log", "wb"), stderr=subprocess.STDOUT))
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=120)
        yield address, private
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def killed_and_resumed(dask_cluster, s3_store, mariadb_server):
    """One run, killed while StatisticsGen runs, then resumed to the end; what each step saw."""
    address, private = dask_cluster
    data = s3_store.upload(os.path.join(PROJECT_ROOT, "examples", "penguin", "data"), s3_store.fresh_prefix("data"))
    root, serving = s3_store.fresh_prefix("root"), s3_store.fresh_prefix("serving")
    (private / "pipeline.py").write_text(PIPELINE.format(project=PROJECT_ROOT, root=root, serving=serving, data=data))
    metadata = mariadb_server.url("remote_runs", password_env="PENSTOCK_TEST_DB_PASSWORD")
    env = {**os.environ, **s3_store.env, "PYTHONPATH": PROJECT_ROOT, "DASK_ADDRESS": address,
           "PENSTOCK_HOME": str(private / "home"), "PENSTOCK_TEST_DB_PASSWORD": mariadb_server.password}
    command = [*PENSTOCK, "run", "pipeline.py", "--metadata", metadata]

    from penstock.metadata.store import MetadataStore

    store = MetadataStore(mariadb_server.config("remote_runs"))
    first = subprocess.Popen(command, cwd=private, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 600
    while time.time() < deadline and first.poll() is None:
        running = [r for r in store.pipeline_executions("penguin_remote")
                   if r.component_id == "StatisticsGen" and r.state == "RUNNING"]
        if running:
            break
        time.sleep(0.2)
    assert first.poll() is None, first.communicate()[0].decode()[-3000:]
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    killed = {
        "run": store.latest_run("penguin_remote"),
        "executions": {r.id: (r.component_id, r.state) for r in store.pipeline_executions("penguin_remote")},
        "live": _live(store),
    }
    resumed = subprocess.run([*command, "--resume"], cwd=private, env=env, capture_output=True, text=True, timeout=1200)
    collected = subprocess.run([*PENSTOCK, "gc", "--metadata", metadata], cwd=private, env=env,
                               capture_output=True, text=True, timeout=300)
    from distributed import Client

    with Client(address, timeout=60) as client:  # the Beam work really went to the cluster
        dask_tasks = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)
    return {"dask_tasks": dask_tasks, "killed": killed, "resumed": resumed, "collected": collected, "store": store, "root": root,
            "serving": serving, "private": private, "s3": s3_store}


def _live(store):
    from penstock.dsl.artifact import ArtifactState
    from penstock.dsl.standard_artifacts import registered_artifact_types

    found = []
    for cls in registered_artifact_types().values():
        found += [a for a in store.live_artifacts_of_type("penguin_remote", cls) if a.state is ArtifactState.LIVE]
    return found


@pytest.mark.slow
def test_a_killed_run_on_an_object_store_resumes_and_leaves_nothing_behind(killed_and_resumed, monkeypatch):
    from penstock.storage import filesystem

    s = killed_and_resumed
    s["s3"].activate(monkeypatch)
    store = s["store"]
    killed = s["killed"]
    assert killed["run"].state == "RUNNING"
    assert ("StatisticsGen", "RUNNING") in killed["executions"].values()
    # killed mid-way: what is LIVE is complete, and nothing the killed execution wrote is LIVE
    assert {type(a).__name__ for a in killed["live"]} == {"Examples"}
    for artifact in killed["live"]:
        assert artifact.uri.startswith(s["root"]) and filesystem.exists(artifact.uri)

    assert s["resumed"].returncode == 0, s["resumed"].stdout[-3000:] + s["resumed"].stderr[-3000:]
    assert s["dask_tasks"] > 100  # ExampleGen, StatisticsGen, Transform and the Evaluator ran there
    assert "Pusher: pushed version 1" in s["resumed"].stderr
    run = store.get_run(killed["run"].run_id)
    assert run.state == "COMPLETE"
    states = {}
    for record in store.run_executions(run.run_id):
        states.setdefault(record.component_id, []).append(record.state)
    assert states["StatisticsGen"] == ["FAILED", "COMPLETE"]  # the killed attempt, recorded as such
    assert states["CsvExampleGen"] == ["COMPLETE"]  # not redone
    assert all(state[-1] in ("COMPLETE",) for state in states.values()), states

    live = _live(store)
    for artifact in live:  # every LIVE artifact is in the bucket, with its files
        assert artifact.uri.startswith(s["root"]), artifact
        assert filesystem.list_files(artifact.uri), f"{artifact} has no files"
    [examples] = [a for a in live if type(a).__name__ == "Examples" and "CsvExampleGen" in a.uri]
    counts = json.loads(examples.custom_properties["row_counts"])
    assert sum(counts.values()) == 334 and all(counts.values())  # what the Dask worker wrote, counted
    version = filesystem.join(s["serving"], "penguin_remote", "1")
    assert filesystem.is_file(filesystem.join(version, "saved_model.pb"))
    assert "penguin_remote" in filesystem.read_text(filesystem.join(s["serving"], "models.config"))

    # resume removed what the killed attempt wrote: gc finds no orphan
    assert s["collected"].returncode == 0, s["collected"].stderr
    assert "removed 0 prefix(es)" in s["collected"].stdout, s["collected"].stdout
    # and nothing was written to a local folder named after the store
    assert not any("s3:" in p.name for p in s["private"].rglob("*"))


@pytest.mark.slow
def test_a_component_that_cannot_reach_the_store_fails_clearly_before_any_work(tmp_path, gcs_store, monkeypatch):
    """On a GCS emulator TensorFlow cannot read gs://, and workers that may be elsewhere cannot be
    handed local copies: Transform must say so before any work, and no local 'gs:' folder appears."""
    from penstock import CsvExampleGen, Pipeline, SchemaGen, StatisticsGen, Transform
    from penstock.orchestrators.local.runner import LocalRunner

    gcs_store.activate(monkeypatch)
    monkeypatch.chdir(tmp_path)
    data = gcs_store.upload(os.path.join(PROJECT_ROOT, "examples", "penguin", "data"), gcs_store.fresh_prefix("data"))
    gen = CsvExampleGen(input_base=data, input_pattern="penguins.csv")
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    transform = Transform(examples=gen.outputs["examples"], schema=schema.outputs["schema"],
                          module_file=os.path.join(PROJECT_ROOT, "examples", "penguin", "penguin_utils.py"))
    transform.with_beam_pipeline_args(["--runner=DaskRunner", "--dask_client_address=tcp://127.0.0.1:9"])
    pipeline = Pipeline("unreachable", [gen, stats, schema, transform], pipeline_root=gcs_store.fresh_prefix("root"),
                        metadata=str(tmp_path / "m.sqlite"))
    result = LocalRunner().run(pipeline)
    assert result.outcomes["StatisticsGen"].state == "COMPLETE"  # native on the emulator
    error = result.outcomes["Transform"].error or ""
    assert result.outcomes["Transform"].state == "FAILED"
    assert error.startswith("cannot run on DaskRunner: gs://") and "TensorFlow's GCS filesystem cannot be pointed" in error
    assert not result.outcomes["Transform"].retryable
    assert not any(p.name.startswith("gs:") for p in tmp_path.rglob("*"))
