"""Worker processes (penstock.runtime.workers): components that need the TensorFlow stack run in a
worker started at the run's first execution, or forked from the warm daemon. What must hold:
the same results as in the run's own process; a crashed worker fails only its component and is
replaced; nothing a run loads (its user modules) is seen by another run; signals still end the
run recorded; failures keep their class, message and whether they are retried."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import subprocess
import tempfile
import textwrap
import time
import traceback

import pytest

from penstock.dsl.pipeline import Pipeline
from penstock.errors import ExecutionError, RetryableError, StorageError, UserCodeError
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.local.runner import LocalRunner
from penstock.runtime.faults import is_retryable
from penstock.runtime.user_code import describe_user_exception
from penstock.runtime.workers import daemon, protocol
from tests.conftest import PENSTOCK, PROJECT_ROOT
from tests.runtime._worker_components import Probe

PENGUIN = os.path.join(PROJECT_ROOT, "examples", "penguin")


def _report(result, node_id):
    with open(os.path.join(result.outputs[node_id]["out"].uri, "report.json")) as f:
        return json.load(f)


# -- failures keep their meaning across the process boundary ------------------------------------
class _NeedsTwoArguments(StorageError):
    def __init__(self, bucket: str, detail: str) -> None:
        super().__init__(f"{bucket}: {detail}")


def _raised(error: BaseException, cause: BaseException | None = None) -> BaseException:
    try:
        if cause is not None:
            raise error from cause
        raise error
    except BaseException as e:
        return e


@pytest.mark.parametrize("error", [
    _raised(ExecutionError("Transform", "preprocessing_fn returned nothing")),
    _raised(UserCodeError("run_fn raised"), ConnectionError("connection reset")),
    _raised(RetryableError("busy"), _raised(ValueError("inner"), OSError(5, "I/O error"))),
    _raised(_NeedsTwoArguments("bucket", "unreachable")),  # does not unpickle: a stand-in
    _raised(KeyError("trip_miles")),
], ids=["execution-error", "user-code-from-connection", "nested-causes", "unpicklable", "plain"])
def test_a_failure_arrives_with_its_class_message_cause_and_retry_decision(error):
    packed = pickle.loads(pickle.dumps(protocol.pack_error(error)))  # as it crosses the connection
    received = protocol.unpack_error(packed)

    assert type(received).__name__ == type(error).__name__ and str(received) == str(error)
    for base in (ExecutionError, UserCodeError, RetryableError, StorageError, KeyError):
        assert isinstance(received, base) == isinstance(error, base)
    assert is_retryable(received) == is_retryable(error)
    assert describe_user_exception(received) == describe_user_exception(error)
    if isinstance(error, ExecutionError):
        assert received.component_id == error.component_id
    # The worker's own traceback is part of what the execution records.
    assert "test_workers.py" in "".join(traceback.format_exception(received))


# -- a worker spawned by the run ------------------------------------------------------------------
def test_a_crashed_worker_fails_only_its_component_and_the_next_one_gets_a_new_worker(penstock_home, caplog):
    first = Probe(id="first")
    exits = Probe(id="exits", action="os_exit", after=first.outputs["out"])
    killed = Probe(id="killed", action="kill")
    after = Probe(id="after")
    runner = LocalRunner(max_workers=1, worker="process", handle_signals=False)  # one at a time, in order
    with caplog.at_level("WARNING", logger="penstock.component.probe"):
        result = runner.run(Pipeline("crash", [first, exits, killed, after]))

    outcomes = result.outcomes
    assert outcomes["first"].state == "COMPLETE" and outcomes["after"].state == "COMPLETE"
    # os._exit in a component fails that component; its worker lives on.
    assert outcomes["exits"].state == "FAILED" and "os._exit(7)" in outcomes["exits"].error
    # A worker that dies fails the component it ran, with how it died ...
    assert outcomes["killed"].state == "FAILED"
    assert "ended before the component did: killed by SIGKILL" in outcomes["killed"].error
    # ... and the next component runs in a new one.
    first_pid, after_pid = _report(result, "first")["pid"], _report(result, "after")["pid"]
    assert first_pid != os.getpid() and after_pid not in (first_pid, os.getpid())
    assert result.outputs["first"]["out"].custom_properties["pid"] == first_pid  # what the executor set
    # The worker's log records reach this process's logging.
    assert any(f"probe first done in {first_pid}" in r.getMessage() for r in caplog.records)
    store = MetadataStore(Pipeline("crash", [Probe(id="first")]).metadata)
    assert {r.component_id: r.state for r in store.run_executions(result.run_id)}["killed"] == "FAILED"


def test_a_retryable_failure_in_a_worker_is_retried(penstock_home):
    flaky = Probe(id="flaky", action="retryable").with_retry(max_attempts=2, backoff_seconds=0.01)
    result = LocalRunner(worker="process", handle_signals=False).run(Pipeline("flaky", [flaky]))
    assert result.outcomes["flaky"].attempts == 2 and "the service is down" in result.outcomes["flaky"].error


def test_a_run_whose_heavy_components_cannot_go_to_a_worker_starts_none(penstock_home, caplog):
    # Another Beam runner than the DirectRunner: its executors stay in the run's process, which
    # then preloads the stack itself instead of paying for a worker no component would use.
    portable = Probe(id="portable").with_beam_pipeline_args(["--runner=PortableRunner"])
    with caplog.at_level("INFO", logger="penstock.runtime.workers"):
        result = LocalRunner(worker="process", handle_signals=False).run(Pipeline("portable", [portable]))
    assert result.succeeded, result.errors
    assert _report(result, "portable")["pid"] == os.getpid()
    assert not any("worker process" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("behaviour", ["hangs", "exits"])
def test_a_worker_that_never_gets_ready_is_given_up_and_the_run_goes_on_in_its_process(
        behaviour, penstock_home, tmp_path, monkeypatch, caplog):
    from penstock.runtime.workers import host

    # Python runs sitecustomize at start-up, before the worker's own code: a worker process
    # that hangs there, or exits, as one stuck or broken before its first message would.
    (tmp_path / "sitecustomize.py").write_text(
        "import os, time\n"
        "if os.environ.get('PENSTOCK_TEST_WORKER_START') == 'hangs':\n    time.sleep(3600)\n"
        "if os.environ.get('PENSTOCK_TEST_WORKER_START') == 'exits':\n    os._exit(3)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), PROJECT_ROOT]))
    monkeypatch.setenv("PENSTOCK_TEST_WORKER_START", behaviour)
    monkeypatch.setattr(host, "SPAWN_READY_SECONDS", 3.0)
    with caplog.at_level("WARNING", logger="penstock.runtime.workers"):
        result = LocalRunner(worker="process", handle_signals=False).run(
            Pipeline("never_ready", [Probe(id="one"), Probe(id="two")]))
    assert result.succeeded, result.errors
    assert {_report(result, n)["pid"] for n in ("one", "two")} == {os.getpid()}
    expected = "no answer in 3 s" if behaviour == "hangs" else "ended before it was ready: exit code 3"
    warnings = [r.getMessage() for r in caplog.records]
    assert any(expected in m and "running the components in this process instead" in m for m in warnings), warnings


def test_a_worker_ends_by_itself_when_its_run_hangs_up():
    from penstock.runtime.workers.host import ExecutorHost

    worker = ExecutorHost("process")._new_worker()  # a real spawned worker
    assert worker.alive and worker.process is not None
    # Wait until this side's reader thread sleeps in recv() on the connection, as it does for
    # the whole of a run: closing the socket under it must still reach the worker.
    stat = f"/proc/self/task/{worker._reader.native_id}/stat"
    deadline = time.monotonic() + 30
    while open(stat).read().rpartition(")")[2].split()[0] != "S":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    worker.close()
    # Exit code 0: it saw its connection end and left; -9 would mean the run had to kill it.
    assert worker.process.returncode == 0


# -- the warm daemon ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def warm_daemon(tmp_path_factory):
    """One daemon for this module, in a folder of its own."""
    folder = str(tmp_path_factory.mktemp("warm"))
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = folder, folder
    state = None
    try:
        state = daemon.start(idle_timeout=300, wait_ready=True)
        yield state
    finally:
        daemon.stop()
        if state is not None:  # found by its pid too: its key changes when penstock's files do
            try:
                os.kill(int(state["pid"]), signal.SIGTERM)
            except ProcessLookupError:
                pass
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env


def test_each_run_gets_a_fresh_worker_and_no_user_module_of_another_run(warm_daemon, penstock_home, tmp_path):
    module = tmp_path / "user_module.py"
    module.write_text("LOADED = True\n")
    runs_before = daemon.status()["runs"]
    reports = []
    for i in range(2):
        probe = Probe(id="loads", action="user_module", path=str(module))
        result = LocalRunner(worker="daemon", handle_signals=False).run(Pipeline(f"user{i}", [probe]))
        assert result.succeeded, result.errors
        reports.append(_report(result, "loads"))
    assert reports[0]["pid"] != reports[1]["pid"] and warm_daemon["pid"] not in {r["pid"] for r in reports}
    assert not reports[0]["user_module_loaded_before"] and not reports[1]["user_module_loaded_before"]

    # A run whose worker crashes leaves the daemon serving the next run.
    crashed = LocalRunner(worker="daemon", handle_signals=False).run(Pipeline("k", [Probe(id="k", action="kill")]))
    assert crashed.outcomes["k"].state == "FAILED" and "forked by the warm daemon" in crashed.outcomes["k"].error
    again = LocalRunner(worker="daemon", handle_signals=False).run(Pipeline("again", [Probe(id="again")]))
    assert again.succeeded and daemon.status()["runs"] == runs_before + 4


def test_penstock_warm_starts_reports_and_stops_its_daemon(tmp_path):
    # A folder of its own, so this daemon is neither the module's nor anyone else's.
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": PROJECT_ROOT}

    def warm(*args):
        done = subprocess.run([*PENSTOCK, "warm", *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "no warm daemon runs" in warm("--status")
    started = warm("--idle-timeout", "120")
    assert "warm daemon ready (pid" in started
    pid = int(started.split("pid ")[1].split(",")[0])
    try:
        assert f"warm daemon pid {pid}" in warm("--status") and "ready" in warm("--status")
        assert f"stopped the warm daemon (pid {pid})" in warm("--stop")
        assert _gone(pid)
        assert "no warm daemon runs" in warm("--status")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _penguin_pipeline(name):
    from penstock import CsvExampleGen, SchemaGen, StatisticsGen, Transform

    example_gen = CsvExampleGen(input_base=os.path.join(PENGUIN, "data"), input_pattern="penguins.csv")
    statistics = StatisticsGen(examples=example_gen.outputs["examples"])
    schema = SchemaGen(statistics=statistics.outputs["statistics"])
    transform = Transform(examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
                          module_file=os.path.join(PENGUIN, "penguin_utils.py"))
    return Pipeline(name, [example_gen, statistics, schema, transform])


def _files(uri):
    """Every file's content; TFRecord files as the sorted list of their examples' values (Beam
    writes records in an order of its own, protobuf serializes a map in an order of each process)."""
    import tensorflow as tf

    from penstock.codecs.tfrecords import iter_records

    def values(record: bytes) -> tuple:
        features = tf.train.Example.FromString(record).features.feature
        return tuple((name, tuple(getattr(features[name], features[name].WhichOneof("kind")).value))
                     for name in sorted(features))

    found = {}
    for folder, _, names in os.walk(uri):
        for name in names:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, uri)
            if ".gz" in name:
                found[relative] = sorted((values(r) for r in iter_records(path)), key=repr)
            else:
                with open(path, "rb") as f:
                    found[relative] = f.read()
    return found


def _same_examples(a: list, b: list) -> bool:
    """Equal, floats to 1e-6: tf.Transform combines an analyzer's partial results (a mean, a
    variance) in the order Beam's bundles finish, so the last bits of a z-score may differ
    from one run to the next, in one process or another."""
    import numpy as np

    def floats(values: tuple) -> bool:
        return bool(values) and isinstance(values[0], float)

    def rounded(row: tuple) -> str:
        return repr([(name, np.round(v, 4).tolist() if floats(v) else v) for name, v in row])

    def close(x: tuple, y: tuple) -> bool:
        return [n for n, _ in x] == [n for n, _ in y] and all(
            np.allclose(u, v, rtol=1e-6, atol=1e-6) if floats(u) else u == v for (_, u), (_, v) in zip(x, y))

    return len(a) == len(b) and all(close(x, y) for x, y in zip(sorted(a, key=rounded), sorted(b, key=rounded)))


def test_a_forked_worker_gives_the_results_of_the_run_s_own_process(warm_daemon, penstock_home, caplog):
    with caplog.at_level("INFO", logger="penstock.runtime.workers"):
        forked = LocalRunner(worker="daemon", handle_signals=False).run(_penguin_pipeline("forked"))
    assert forked.succeeded, forked.errors
    assert any("forked by the warm daemon" in r.getMessage() for r in caplog.records)
    inline = LocalRunner(worker="inline", handle_signals=False).run(_penguin_pipeline("inline"))
    assert inline.succeeded, inline.errors

    for node_id, key in [("CsvExampleGen", "examples"), ("StatisticsGen", "statistics"), ("SchemaGen", "schema")]:
        a, b = forked.outputs[node_id][key], inline.outputs[node_id][key]
        assert _files(a.uri) == _files(b.uri), f"{node_id}.{key} differs"
        assert a.properties == b.properties
    a, b = (_files(run.outputs["Transform"]["transformed_examples"].uri) for run in (forked, inline))
    assert a.keys() == b.keys() and all(_same_examples(a[k], b[k]) for k in a), "transformed examples differ"
    vocabulary = "transform_fn/assets"
    a, b = forked.outputs["Transform"]["transform_graph"].uri, inline.outputs["Transform"]["transform_graph"].uri
    assert {k: v for k, v in _files(a).items() if k.startswith(vocabulary)} == \
           {k: v for k, v in _files(b).items() if k.startswith(vocabulary)}


# -- signals -----------------------------------------------------------------------------------------
SLEEPER = textwrap.dedent('''
    import os
    from penstock.dsl.pipeline import Pipeline
    from tests.runtime._worker_components import Probe

    pipeline = Pipeline("sleeper", [Probe(id="sleeps", action="sleep", path=os.environ["MARKER"],
                                          seconds=float(os.environ["SLEEP"]))])
''')


def _start_sleeper(tmp_path, seconds):
    (tmp_path / "pipe.py").write_text(SLEEPER)
    marker = tmp_path / "worker.pid"
    env = {**os.environ, "PYTHONPATH": PROJECT_ROOT, "MARKER": str(marker), "SLEEP": str(seconds),
           "PENSTOCK_WORKER": "process"}
    proc = subprocess.Popen([*PENSTOCK, "run", "pipe.py"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "stderr.txt", "w"), start_new_session=True)
    deadline = time.monotonic() + 120
    while not (marker.exists() and marker.read_text()) and proc.poll() is None:
        assert time.monotonic() < deadline, "the component never started"
        time.sleep(0.05)
    assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
    return proc, int(marker.read_text())


def _gone(pid, within=10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _sleeper_records(tmp_path):
    store = MetadataStore(os.path.join(os.environ["PENSTOCK_HOME"], "metadata.sqlite"))
    run = store.latest_run("sleeper")
    return run, {r.component_id: r for r in store.run_executions(run.run_id)}


def test_sigterm_cancels_the_run_recorded_and_ends_its_worker(tmp_path, penstock_home):
    proc, worker_pid = _start_sleeper(tmp_path, 120)
    assert worker_pid != proc.pid
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    run, records = _sleeper_records(tmp_path)
    assert run.state == "CANCELED" and records["sleeps"].state == "CANCELED"
    assert _gone(worker_pid), "the worker outlived its run"


def test_one_ctrl_c_lets_the_component_in_the_worker_finish(tmp_path, penstock_home):
    proc, worker_pid = _start_sleeper(tmp_path, 3)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    assert proc.wait(timeout=60) == 130, (tmp_path / "stderr.txt").read_text()
    run, records = _sleeper_records(tmp_path)
    assert run.state == "CANCELED" and records["sleeps"].state == "COMPLETE"
    assert _gone(worker_pid)


# -- user-code errors read the same from a worker -------------------------------------------------
BAD_PREPROCESSING = {
    "raises": "def preprocessing_fn(inputs):\n    outputs = dict(inputs)\n"
              "    raise ValueError('culmen_length_mm is out of range')\n",
    "syntax": "def preprocessing_fn(inputs)\n    return inputs\n",
    "missing": "def preprocess(inputs):\n    return inputs\n",
}


def _bad_transform_pipeline(name, folder):
    from penstock import CsvExampleGen, SchemaGen, StatisticsGen, Transform

    example_gen = CsvExampleGen(input_base=os.path.join(PENGUIN, "data"), input_pattern="penguins.csv")
    statistics = StatisticsGen(examples=example_gen.outputs["examples"])
    schema = SchemaGen(statistics=statistics.outputs["statistics"])
    transforms = []
    for case, source in BAD_PREPROCESSING.items():
        path = folder / f"{case}.py"
        path.write_text(source)
        transforms.append(Transform(examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
                                    module_file=str(path)).with_id(f"Transform_{case}"))
    return Pipeline(name, [example_gen, statistics, schema, *transforms])


def test_a_user_code_error_in_a_worker_reads_exactly_as_in_the_run_s_process(penstock_home, tmp_path, caplog):
    errors = {}
    for mode in ("process", "inline"):
        with caplog.at_level("INFO", logger="penstock.runtime.workers"):
            result = LocalRunner(worker=mode, handle_signals=False).run(_bad_transform_pipeline(mode, tmp_path))
        if mode == "process":  # the Transforms did run in a worker
            assert any("spawned by this run" in r.getMessage() for r in caplog.records)
        errors[mode] = {f"Transform_{case}": result.outcomes[f"Transform_{case}"].error for case in BAD_PREPROCESSING}
        assert result.outcomes["StatisticsGen"].state == "COMPLETE"
        assert all(result.outcomes[node].state == "FAILED" for node in errors[mode]), result.errors
    assert errors["process"] == errors["inline"]
    # What they say: the file and line of the user's code, and what went wrong there.
    assert "raises.py:3 in preprocessing_fn: ValueError: culmen_length_mm is out of range" in \
        errors["inline"]["Transform_raises"]
    assert "syntax.py, line 1" in errors["inline"]["Transform_syntax"]
    assert "preprocessing_fn" in errors["inline"]["Transform_missing"]


def test_a_long_tmpdir_still_gives_a_socket_path_a_unix_socket_can_bind(tmp_path, monkeypatch):
    import socket
    import tempfile

    from penstock.runtime.workers.daemon import Paths

    long_folder = tmp_path / ("x" * 90)
    long_folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long_folder))
    paths = Paths("0123456789abcdef")
    socket_path = paths.socket
    assert len(paths.file("sock")) > 107 and len(socket_path) <= 107
    paths.make_folders()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(socket_path)  # what failed: "AF_UNIX path too long"
    os.unlink(socket_path)
    (long_folder / "y").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long_folder / "y"))
    assert Paths("0123456789abcdef").socket != socket_path  # a daemon per TMPDIR, as before
