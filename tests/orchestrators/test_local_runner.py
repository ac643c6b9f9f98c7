"""The local runner on real ML Metadata (SQLite in a temp dir) with real function components."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from penstock.dsl.artifact import ArtifactState
from penstock.dsl.component import Component, ComponentSpec, OutputSpec
from penstock.dsl.function_component import InputArtifact, OutputArtifact, component
from penstock.dsl.pipeline import Pipeline
from penstock.dsl.standard_artifacts import Examples, Model
from penstock.errors import PipelineDefinitionError
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.local.runner import LocalRunner
from penstock.runtime.loader import load_pipeline
from tests.conftest import PENSTOCK, PROJECT_ROOT

CALLS: list[str] = []


@component
def sleeper(out: OutputArtifact[Examples], seconds: float = 1.0, tag: str = ""):
    CALLS.append(tag)
    time.sleep(seconds)
    with open(os.path.join(out.uri, "done"), "w") as f:
        f.write(tag)


@component
def joiner(a: InputArtifact[Examples], b: InputArtifact[Examples], model: OutputArtifact[Model]):
    CALLS.append("join")
    with open(os.path.join(model.uri, "joined"), "w") as f:
        f.write(open(os.path.join(a.uri, "done")).read() + open(os.path.join(b.uri, "done")).read())


FLAKY_STATE = {"failures_left": 0}


@component
def flaky(out: OutputArtifact[Examples]):
    if FLAKY_STATE["failures_left"] > 0:
        FLAKY_STATE["failures_left"] -= 1
        raise ConnectionError("transient outage")
    with open(os.path.join(out.uri, "done"), "w") as f:
        f.write("flaky")


def _pipeline(tmp_path, components, name="p"):
    return Pipeline(name, components, pipeline_root=str(tmp_path / "root"), metadata=str(tmp_path / "m.sqlite"))


def test_independent_components_run_in_parallel(tmp_path):
    a, b = sleeper(tag="a", id="a"), sleeper(tag="b", id="b")
    pipeline = _pipeline(tmp_path, [a, b, joiner(a=a.outputs.out, b=b.outputs.out)])
    store = MetadataStore(pipeline.metadata)  # creating a new SQLite schema is a one-off, not run time
    store.register_standard_types()
    started = time.perf_counter()
    result = LocalRunner().run(pipeline, store=store)
    elapsed = time.perf_counter() - started
    assert result.succeeded, result.errors
    assert elapsed < 1.6, f"two 1 s components took {elapsed:.2f} s: not parallel"
    model = result.outputs["joiner"]["model"]
    assert open(os.path.join(model.uri, "joined")).read() in ("ab", "ba")
    assert model.state is ArtifactState.LIVE and model.uri.startswith(str(tmp_path / "root"))


def test_rerun_executes_nothing_and_records_cached(tmp_path):
    a = sleeper(seconds=0.0, tag="x")
    pipeline = _pipeline(tmp_path, [a])
    first = LocalRunner().run(pipeline)
    CALLS.clear()
    second = LocalRunner().run(pipeline)
    assert CALLS == []
    assert second.outcomes["sleeper"].state == "CACHED"
    assert second.outputs["sleeper"]["out"].id == first.outputs["sleeper"]["out"].id
    store = MetadataStore(pipeline.metadata)
    [record] = store.run_executions(second.run_id)
    assert record.state == "CACHED" and record.cache_decision.startswith("hit")
    # A parameter change is a miss that says why; --no-cache executes anyway.
    changed = _pipeline(tmp_path, [sleeper(seconds=0.0, tag="y")])
    third = LocalRunner().run(changed)
    assert third.outcomes["sleeper"].state == "COMPLETE"
    assert 'parameter tag: "x" -> "y"' in third.outcomes["sleeper"].cache_decision
    fourth = LocalRunner().run(changed, enable_cache=False)
    assert fourth.outcomes["sleeper"].state == "COMPLETE"
    assert fourth.outcomes["sleeper"].cache_decision.startswith("disabled")


def test_failure_stops_dependents_but_not_siblings_then_resume(tmp_path):
    FLAKY_STATE["failures_left"] = 1
    bad = flaky()
    side = sleeper(seconds=0.0, tag="side", id="side")
    after = joiner(a=bad.outputs.out, b=side.outputs.out)
    pipeline = _pipeline(tmp_path, [bad, side, after])
    failed = LocalRunner().run(pipeline)
    assert failed.state == "FAILED"
    assert failed.outcomes["flaky"].state == "FAILED"
    assert "ConnectionError: transient outage" in failed.errors["flaky"]
    assert "test_local_runner.py" in failed.errors["flaky"]  # names the user's file and line
    assert failed.outcomes["side"].state == "COMPLETE"
    assert failed.outcomes["joiner"].state == "SKIPPED"
    store = MetadataStore(pipeline.metadata)
    assert store.get_run(failed.run_id).state == "FAILED"
    CALLS.clear()
    resumed = LocalRunner().run(pipeline, resume=True, enable_cache=False)
    assert resumed.run_id == failed.run_id and resumed.succeeded
    assert resumed.outcomes["side"].state == "REUSED"
    assert "side" not in CALLS and "join" in CALLS
    assert store.get_run(failed.run_id).state == "COMPLETE"


def test_retry_policy_retries_runtime_failures(tmp_path):
    FLAKY_STATE["failures_left"] = 2
    pipeline = _pipeline(tmp_path, [flaky().with_retry(max_attempts=3, backoff_seconds=0.01)])
    result = LocalRunner().run(pipeline)
    assert result.succeeded and result.outcomes["flaky"].attempts == 3
    states = [r.state for r in MetadataStore(pipeline.metadata).run_executions(result.run_id)]
    assert states == ["FAILED", "FAILED", "COMPLETE"]
    FLAKY_STATE["failures_left"] = 5
    exhausted = LocalRunner().run(_pipeline(tmp_path, [flaky().with_retry(max_attempts=2, backoff_seconds=0.01)]), enable_cache=False)
    assert exhausted.state == "FAILED" and exhausted.outcomes["flaky"].attempts == 2


def test_partial_runs_from_and_to(tmp_path):
    a, b = sleeper(seconds=0.0, tag="a", id="a"), sleeper(seconds=0.0, tag="b", id="b")
    pipeline = _pipeline(tmp_path, [a, b, joiner(a=a.outputs.out, b=b.outputs.out)])
    with pytest.raises(PipelineDefinitionError, match="upstream component '(a|b)' has never completed"):
        LocalRunner().run(pipeline, from_node="joiner")
    CALLS.clear()
    only_a = LocalRunner().run(pipeline, to_node="a")
    assert set(only_a.outcomes) == {"a"} and CALLS == ["a"]
    LocalRunner().run(pipeline)
    CALLS.clear()
    tail = LocalRunner().run(pipeline, from_node="joiner", enable_cache=False)
    assert set(tail.outcomes) == {"joiner"} and CALLS == ["join"]


def _write_project(tmp_path, helper_body: str) -> str:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "helpers.py").write_text(helper_body)
    (project / "pipeline.py").write_text(textwrap.dedent('''
        import os, time
        from helpers import transform
        from penstock.dsl.function_component import component, OutputArtifact
        from penstock.dsl.pipeline import Pipeline
        from penstock.dsl.standard_artifacts import Examples

        @component
        def step(out: OutputArtifact[Examples]):
            marker = os.environ.get("PENSTOCK_TEST_MARKER")
            with open(os.path.join(out.uri, "part-1"), "w") as f:
                f.write(transform("x"))
            if marker:
                open(marker, "w").close()
                time.sleep(60)
            with open(os.path.join(out.uri, "part-2"), "w") as f:
                f.write("end")

        pipeline = Pipeline("edit", [step()])
    '''))
    return str(project / "pipeline.py")


def _run_cli(args, cwd, env=None, check=True):
    proc = subprocess.run([*PENSTOCK, *args], cwd=cwd, env={**os.environ, "PYTHONPATH": PROJECT_ROOT, **(env or {})},
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_editing_an_imported_helper_invalidates_the_cache(tmp_path, penstock_home):
    pipeline_file = _write_project(tmp_path, "def transform(v):\n    return v.upper()\n")
    _run_cli(["run", pipeline_file], cwd=tmp_path)
    again = _run_cli(["run", pipeline_file], cwd=tmp_path)
    assert "(cached)" in again.stderr
    with open(tmp_path / "project" / "helpers.py", "a") as f:
        f.write("\n# a helper edit\n")
    edited = _run_cli(["run", pipeline_file], cwd=tmp_path)
    assert "(cached)" not in edited.stderr
    store = MetadataStore(load_pipeline(pipeline_file).metadata)
    [record] = store.run_executions(store.latest_run("edit").run_id)
    assert record.state == "COMPLETE"
    assert "user code changed: project/helpers.py" in (record.cache_decision or "")
    assert "step" in _run_cli(["show"], cwd=tmp_path).stdout


def test_killed_executor_leaves_no_live_artifact_and_resumes(tmp_path, penstock_home):
    pipeline_file = _write_project(tmp_path, "def transform(v):\n    return v\n")
    marker = tmp_path / "writing"
    env = {**os.environ, "PYTHONPATH": PROJECT_ROOT, "PENSTOCK_TEST_MARKER": str(marker)}
    proc = subprocess.Popen([*PENSTOCK, "run", pipeline_file], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the component never started writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    pipeline = load_pipeline(pipeline_file)
    store = MetadataStore(pipeline.metadata)
    run = store.latest_run("edit")
    [record] = store.run_executions(run.run_id)
    assert record.state == "RUNNING"
    assert store.live_artifacts_of_type("edit", Examples) == []
    killed_output = os.path.join(pipeline.pipeline_root, "step", "out", str(record.id))
    assert os.listdir(killed_output) == ["part-1"]  # written, never recorded

    # The record names its process, which is gone: shown as interrupted, and gc collects its files
    # (a RUNNING execution whose process lives, or runs on another host, is kept).
    assert "INTERRUPTED" in _run_cli(["runs"], cwd=tmp_path, env={"COLUMNS": "200"}).stdout
    collected = _run_cli(["gc"], cwd=tmp_path).stdout
    assert f"removed {killed_output}" in collected and not os.path.exists(killed_output)

    _run_cli(["run", pipeline_file, "--resume"], cwd=tmp_path)
    [artifact] = store.live_artifacts_of_type("edit", Examples)
    assert sorted(os.listdir(artifact.uri)) == ["part-1", "part-2"]
    states = [r.state for r in store.run_executions(run.run_id)]
    assert states == ["FAILED", "COMPLETE"]

    # What a removal that failed would leave (an ended execution's prefix), and a prefix no
    # execution of this store wrote: gc removes the first, reports and keeps the second.
    os.makedirs(killed_output)
    foreign = os.path.join(pipeline.pipeline_root, "step", "out", "999")
    os.makedirs(foreign)
    collected = _run_cli(["gc"], cwd=tmp_path).stdout
    assert f"removed {killed_output}" in collected and not os.path.exists(killed_output)
    assert f"kept {foreign}: no execution of this store wrote it" in collected and os.path.exists(foreign)
    assert os.path.isdir(artifact.uri)  # LIVE: never collected


def test_pipeline_file_errors(tmp_path):
    missing = _run_cli(["run", str(tmp_path / "nope.py")], cwd=tmp_path, check=False)
    assert missing.returncode == 1 and "nope.py does not exist" in missing.stderr
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    none = _run_cli(["run", str(empty)], cwd=tmp_path, check=False)
    assert none.returncode == 1 and "exposes no pipeline" in none.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    syntax = _run_cli(["run", str(broken)], cwd=tmp_path, check=False)
    assert syntax.returncode == 1 and "broken.py, line 1: syntax error" in syntax.stderr
    assert "Traceback" not in syntax.stderr


class ProbeComponent(Component):
    SPEC = ComponentSpec(outputs={"out": OutputSpec(Examples)})
    EXECUTOR = staticmethod(lambda ctx: None)
    HEAVY_MODULES = ("tests.orchestrators._heavy_probe",)


def test_heavy_modules_preload_on_execution_but_not_on_a_cached_run(tmp_path):
    probe = "tests.orchestrators._heavy_probe"
    sys.modules.pop(probe, None)
    first = sleeper(seconds=0.2, tag="p", id="first")
    pipeline = _pipeline(tmp_path, [first, ProbeComponent()])
    assert LocalRunner(max_workers=1).run(pipeline).succeeded
    deadline = time.time() + 10
    while probe not in sys.modules and time.time() < deadline:
        time.sleep(0.01)
    assert probe in sys.modules  # imported by the preload thread, ahead of ProbeComponent
    sys.modules.pop(probe)
    cached = LocalRunner().run(pipeline)
    assert {o.state for o in cached.outcomes.values()} == {"CACHED"}
    time.sleep(0.2)
    assert probe not in sys.modules


def test_with_cache_and_with_beam_pipeline_args_apply_to_one_component(tmp_path):
    """The fluent per-component settings the README documents: a component opted out of the
    cache runs again while its neighbour is reused, and Beam arguments set on one component
    reach it (and its cache key) without touching the pipeline's."""
    from penstock.runtime.node_execution import NodeExecutor

    cached, uncached = sleeper(tag="c", seconds=0.0, id="cached"), sleeper(tag="u", seconds=0.0, id="uncached")
    uncached.with_cache(False).with_beam_pipeline_args(["--direct_num_workers=2", "--my_flag=1"])
    pipeline = Pipeline("fluent", [cached, uncached], pipeline_root=str(tmp_path / "root"),
                        metadata=str(tmp_path / "m.sqlite"), beam_pipeline_args=["--pipeline_flag=1"])
    LocalRunner().run(pipeline)
    CALLS.clear()
    second = LocalRunner().run(pipeline)
    assert second.outcomes["cached"].state == "CACHED" and second.outcomes["uncached"].state == "COMPLETE"
    assert CALLS == ["u"]
    assert second.outcomes["uncached"].cache_decision == "disabled: caching is off for this component"
    executor = NodeExecutor(MetadataStore(pipeline.metadata), pipeline, "probe")
    assert executor.beam_args(uncached) == ["--direct_num_workers=2", "--my_flag=1"]
    assert executor.beam_args(cached) == ["--pipeline_flag=1"]
