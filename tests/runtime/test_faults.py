"""Every way a `penstock run` can end leaves the run and its executions recorded with the reason,
and no files that no LIVE artifact holds: signals sent to a real subprocess, a component that
ends the process itself, a metadata disk that fills up, and what is retried."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import textwrap
import time

import pytest

from penstock.dsl.function_component import OutputArtifact, component
from penstock.dsl.pipeline import Pipeline
from penstock.dsl.standard_artifacts import Examples
from penstock.errors import ExecutionError, InputDataError, RetryableError, StorageError, UserCodeError
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.local.runner import LocalRunner
from penstock.runtime.faults import is_retryable
from tests.conftest import PENSTOCK, PROJECT_ROOT

PIPELINE = textwrap.dedent('''
    import os, sys, time
    from penstock.dsl.function_component import component, InputArtifact, OutputArtifact
    from penstock.dsl.pipeline import Pipeline
    from penstock.dsl.standard_artifacts import Examples, Model, ModelBlessing

    @component
    def slow(out: OutputArtifact[Examples]):
        with open(os.path.join(out.uri, "part-1"), "w") as f:
            f.write("begun")
        open(os.environ["MARKER"], "w").close()
        time.sleep(float(os.environ["SLEEP"]))
        with open(os.path.join(out.uri, "part-2"), "w") as f:
            f.write("end")

    @component
    def after(examples: InputArtifact[Examples], model: OutputArtifact[Model]):
        open(os.path.join(model.uri, "weights"), "w").write("w")

    @component
    def exits(out: OutputArtifact[Examples]):
        open(os.path.join(out.uri, "written"), "w").write("x")
        sys.exit(3)

    @component
    def hard_exits(out: OutputArtifact[Examples]):
        open(os.path.join(out.uri, "written"), "w").write("x")
        os._exit(7)

    @component
    def judge(blessing: OutputArtifact[ModelBlessing]):
        blessing.set_property("blessed", 0)
        blessing.custom_properties["explanation"] = "auc = 0.61 < 0.7 on sex:Female"

    @component
    def fills_disk(out: OutputArtifact[Examples]):
        # Everything the metadata disk has left: the store cannot record the execution's end.
        free = os.statvfs(out.uri).f_bavail * os.statvfs(out.uri).f_frsize
        with open(os.path.join(out.uri, "filler"), "wb") as f:
            f.write(b"x" * free)

    source = slow()
    scenario = os.environ.get("SCENARIO", "signals")
    if scenario == "signals":
        pipeline = Pipeline("faults", [source, after(examples=source.outputs.out)])
    elif scenario == "judge":
        pipeline = Pipeline("judge", [judge()])
    elif scenario == "exits":
        pipeline = Pipeline("exits", [exits(), hard_exits()])
    else:
        root = os.environ["TINY_DISK"]
        pipeline = Pipeline("disk", [fills_disk()], pipeline_root=os.path.join(root, "root"),
                            metadata=os.path.join(root, "m.sqlite"))
''')


@pytest.fixture()
def project(tmp_path, penstock_home):
    (tmp_path / "pipe.py").write_text(PIPELINE)
    return tmp_path


def _env(project, **extra):
    return {**os.environ, "PYTHONPATH": PROJECT_ROOT, "MARKER": str(project / "started"), "SLEEP": "120", "COLUMNS": "250", **extra}


def _start(project, **extra):
    """`penstock run` in the background, returned once the slow component is writing."""
    stderr = open(project / "stderr.txt", "w")
    proc = subprocess.Popen([*PENSTOCK, "run", "pipe.py"], cwd=project, env=_env(project, **extra),
                            stdout=subprocess.DEVNULL, stderr=stderr)
    _wait_for(lambda: (project / "started").exists() or proc.poll() is not None)
    assert proc.poll() is None, (project / "stderr.txt").read_text()
    return proc


def _wait_for(condition, limit=120.0):
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def _cli(project, *args, **extra):
    return subprocess.run([*PENSTOCK, *args], cwd=project, env=_env(project, **extra), capture_output=True,
                          text=True, timeout=300)


def _records(project, pipeline_name):
    from penstock.runtime.loader import load_pipeline

    store = MetadataStore(load_pipeline(str(project / "pipe.py")).metadata)
    run = store.latest_run(pipeline_name)
    return store, run, {r.component_id: r for r in store.run_executions(run.run_id)}


def _prefix(project, execution_id):
    return project / "home" / "pipelines" / "faults" / "slow" / "out" / str(execution_id)


def test_sigterm_records_the_run_and_execution_canceled_and_resume_completes(project):
    proc = _start(project)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    stderr = (project / "stderr.txt").read_text()
    assert "canceled: the process received SIGTERM" in stderr and "--resume" in stderr

    store, run, records = _records(project, "faults")
    assert run.state == "CANCELED" and "SIGTERM" in (run.error or "") and run.end_ms
    assert records["slow"].state == "CANCELED" and "SIGTERM" in (records["slow"].error or "")
    assert "after" not in records
    # Whatever the component's thread wrote after the cancel belongs to an ended execution: gc takes it.
    _cli(project, "gc")
    assert not _prefix(project, records["slow"].id).exists()
    root = project / "home" / "pipelines" / "faults"
    leftovers = [os.path.join(d, n) for d, dirs, files in os.walk(root) for n in files]
    assert leftovers == [] and not list((root / ".temp").glob("*"))
    assert "RUNNING" not in _cli(project, "runs").stdout

    resumed = _cli(project, "run", "pipe.py", "--resume", SLEEP="0")
    assert resumed.returncode == 0, resumed.stderr
    assert store.get_run(run.run_id).state == "COMPLETE"


def test_one_ctrl_c_says_what_it_waits_for_and_lets_it_finish(project):
    proc = _start(project, SLEEP="3")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    stderr = (project / "stderr.txt").read_text()
    assert "stopped by Ctrl-C (SIGINT): starting nothing new; waiting for slow (running" in stderr
    assert "Press Ctrl-C again to stop now" in stderr

    _, run, records = _records(project, "faults")
    assert run.state == "CANCELED" and "stopped by Ctrl-C" in (run.error or "")
    assert records["slow"].state == "COMPLETE" and "after" not in records
    assert sorted(os.listdir(_prefix(project, records["slow"].id))) == ["part-1", "part-2"]


def test_a_second_ctrl_c_stops_at_once_and_is_recorded(project):
    proc = _start(project)
    proc.send_signal(signal.SIGINT)
    _wait_for(lambda: "waiting for slow" in (project / "stderr.txt").read_text())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130  # the component would sleep for 120 s more

    _, run, records = _records(project, "faults")
    assert run.state == "CANCELED" and "second Ctrl-C" in (run.error or "")
    assert records["slow"].state == "CANCELED" and "second Ctrl-C" in (records["slow"].error or "")
    shown = _cli(project, "show").stdout
    assert "CANCELED" in shown and "RUNNING" not in shown


def test_sys_exit_and_os_exit_in_a_component_fail_it_with_a_message(project):
    done = _cli(project, "run", "pipe.py", SCENARIO="exits")
    assert done.returncode == 1, done.stderr
    assert "called sys.exit(3)" in done.stderr and "called os._exit(7)" in done.stderr

    _, run, records = _records(project, "exits")
    assert run.state == "FAILED"
    assert {records["exits"].state, records["hard_exits"].state} == {"FAILED"}
    assert "os._exit(7)" in (records["hard_exits"].error or "")
    for name, record in records.items():  # what the attempts wrote is gone at once
        assert not (project / "home" / "pipelines" / "exits" / name / "out" / str(record.id)).exists()


def test_a_full_metadata_disk_fails_the_run_with_one_message(project, tmp_path):
    disk = tmp_path / "tiny"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        done = _cli(project, "run", "pipe.py", SCENARIO="disk", TINY_DISK=str(disk))
        assert done.returncode == 1
        assert "database or disk is full" in done.stderr
        assert "Traceback" not in done.stderr and "Transaction already open" not in done.stderr
        store = MetadataStore(str(disk / "m.sqlite"))
        run = store.latest_run("disk")
        # Discarding the unrecorded output freed the disk: the failure is recorded after all.
        [record] = store.run_executions(run.run_id)
        assert record.state == "FAILED" and "disk is full" in (record.error or "")
        assert run.state == "FAILED"
        assert not os.path.exists(disk / "root" / "fills_disk" / "out" / str(record.id))
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


ATTEMPTS: list[str] = []


@component
def buggy(out: OutputArtifact[Examples], kind: str = "value"):
    ATTEMPTS.append(kind)
    if kind == "value":
        raise ValueError("a bug: the same on every attempt")
    if kind == "retryable":
        raise RetryableError("the feature service is unavailable")
    if kind == "prefixed":
        raise ExecutionError("buggy", "the message names its component once")


@pytest.mark.parametrize("kind,attempts", [("value", 1), ("retryable", 3)])
def test_only_failures_of_the_environment_are_retried(tmp_path, kind, attempts):
    ATTEMPTS.clear()
    pipeline = Pipeline("retry", [buggy(kind=kind).with_retry(max_attempts=3, backoff_seconds=0.0)],
                        pipeline_root=str(tmp_path / "root"), metadata=str(tmp_path / "m.sqlite"))
    result = LocalRunner().run(pipeline)
    assert result.state == "FAILED" and len(ATTEMPTS) == attempts


def test_a_component_error_names_the_component_once(tmp_path):
    pipeline = Pipeline("prefix", [buggy(kind="prefixed")], pipeline_root=str(tmp_path / "root"),
                        metadata=str(tmp_path / "m.sqlite"))
    result = LocalRunner().run(pipeline)
    assert result.errors == {"buggy": "the message names its component once"}
    run = MetadataStore(pipeline.metadata).get_run(result.run_id)
    assert run.error == "buggy: the message names its component once"


def test_what_is_retryable():
    assert is_retryable(ConnectionResetError()) and is_retryable(TimeoutError())
    assert is_retryable(OSError(errno.EIO, "I/O error")) and is_retryable(StorageError("unreachable"))
    assert not is_retryable(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_retryable(FileNotFoundError("x")) and not is_retryable(PermissionError("x"))
    assert not is_retryable(ValueError("x")) and not is_retryable(KeyError("x"))
    assert not is_retryable(InputDataError("bad row")) and not is_retryable(UserCodeError("bad fn"))
    unavailable = type("UnavailableError", (Exception,), {})
    assert is_retryable(unavailable("grpc")) and not is_retryable(MemoryError())
    try:
        try:
            raise ConnectionError("reset")
        except ConnectionError as e:
            raise RuntimeError("the Beam pipeline failed") from e
    except RuntimeError as wrapped:
        assert is_retryable(wrapped)
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as e:
            raise StorageError("pushing failed") from e
    except StorageError as full:
        assert not is_retryable(full)


PUBLISH_FAILURES: list[BaseException] = []


@pytest.mark.parametrize("failure,attempts", [(PermissionError(13, "Permission denied"), 1),
                                              (ConnectionResetError(104, "Connection reset by peer"), 2)])
def test_a_failure_while_publishing_outputs_fails_the_attempt(tmp_path, monkeypatch, failure, attempts):
    from penstock.storage import staging

    publish = staging.ExecutionFiles.publish

    def failing_publish(self):
        if PUBLISH_FAILURES:
            raise PUBLISH_FAILURES.pop()
        publish(self)

    monkeypatch.setattr(staging.ExecutionFiles, "publish", failing_publish)
    PUBLISH_FAILURES[:] = [failure]
    ATTEMPTS.clear()
    pipeline = Pipeline("publish", [buggy(kind="works").with_retry(max_attempts=2, backoff_seconds=0.0)],
                        pipeline_root=str(tmp_path / "root"), metadata=str(tmp_path / "m.sqlite"))
    result = LocalRunner().run(pipeline)
    records = MetadataStore(pipeline.metadata).run_executions(result.run_id)
    assert records[0].state == "FAILED" and records[0].end_ms is not None
    assert type(failure).__name__ in (records[0].error or "")
    assert [r.state for r in records] == (["FAILED"] if attempts == 1 else ["FAILED", "COMPLETE"])
    assert result.succeeded == (attempts == 2)
    assert not os.path.exists(tmp_path / "root" / "buggy" / "out" / str(records[0].id))


def test_a_record_names_its_process_and_is_judged_gone_only_when_it_is():
    import socket

    from penstock.runtime import liveness

    me = liveness.identity()
    assert me["pid"] == os.getpid() and me["process_start"] and not liveness.process_gone(me)
    child = subprocess.Popen(["true"])
    child.wait()
    assert liveness.process_gone({**me, "pid": child.pid})
    assert liveness.process_gone({**me, "process_start": "1"})  # the pid now belongs to another process
    assert not liveness.process_gone({**me, "pid": child.pid, "host": socket.gethostname() + "-other"})
    assert not liveness.process_gone({})  # recorded before processes were recorded: unsure, so alive


@pytest.mark.parametrize("ending", [b"\n", b""])
def test_a_csv_row_that_would_crash_the_reader_fails_with_its_line(tmp_path, penstock_home, ending):
    """pyarrow 10 segfaults on a row of ~400k fields (apache/arrow#45497): the process must live
    to record the failure, naming the line (a last line without a line break included)."""
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "wide.csv", "wb") as f:
        f.write(b"a,b\n1,2\n3,4\n" + b",".join([b"1"] * 450_000) + ending)
    (tmp_path / "pipe.py").write_text(textwrap.dedent(f'''
        from penstock.components.example_gen import CsvExampleGen
        from penstock.dsl.pipeline import Pipeline
        pipeline = Pipeline("wide", [CsvExampleGen(input_base={str(data)!r})])
    '''))
    done = subprocess.run([*PENSTOCK, "run", "pipe.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": PROJECT_ROOT, "COLUMNS": "300"})
    assert done.returncode == 1, done.stderr
    assert "wide.csv, line 4: a row of up to 450,000 fields (the header has 2)" in done.stderr
    store = MetadataStore(str(penstock_home / "metadata.sqlite"))
    run = store.latest_run("wide")
    assert run.state == "FAILED" and "line 4" in (run.error or "")


def test_fail_if_not_blessed_gives_ci_an_exit_code(project):
    plain = _cli(project, "run", "pipe.py", SCENARIO="judge")
    assert plain.returncode == 0 and "model not blessed: auc = 0.61 < 0.7 on sex:Female" in plain.stderr
    gated = _cli(project, "run", "pipe.py", "--fail-if-not-blessed", SCENARIO="judge")
    assert gated.returncode == 2 and "--fail-if-not-blessed: not blessed by judge" in gated.stderr


def test_sigterm_to_a_run_node_task_records_its_execution_canceled(project):
    """What a deleted Kubeflow pod or a killed Airflow task sends: the task's execution ends
    CANCELED with the reason instead of RUNNING forever."""
    stderr = open(project / "stderr.txt", "w")
    proc = subprocess.Popen([*PENSTOCK, "run-node", "pipe.py", "--node", "slow", "--run-id", "task-run"], cwd=project,
                            env=_env(project), stdout=subprocess.DEVNULL, stderr=stderr)
    _wait_for(lambda: (project / "started").exists() or proc.poll() is not None)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, (project / "stderr.txt").read_text()
    _, run, records = _records(project, "faults")
    assert run.run_id == "task-run" and run.state == "CANCELED" and "SIGTERM" in (run.error or "")
    assert records["slow"].state == "CANCELED" and not _prefix(project, records["slow"].id).exists()
