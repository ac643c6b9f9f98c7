"""Kubeflow tasks as pods would run them: ``run_compiled(isolation="pod")`` gives every task
attempt a fresh copy of the image, its own HOME and TMPDIR and only the variables a pod gets,
shares nothing but the object store and MariaDB, and runs independent tasks in parallel with
KFP's failure semantics. Also: what compiles for Kubeflow with object-store data and destinations."""

from __future__ import annotations

import json
import os
import textwrap
import threading
import uuid

import pytest

from penstock.errors import PenstockError, PipelineDefinitionError
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.kubeflow import pods
from penstock.orchestrators.kubeflow.compiler import compile_kubeflow
from penstock.orchestrators.kubeflow.local_executor import (
    CompiledRunError,
    TaskRun,
    _schedule,
    _Task,
    run_compiled,
)
from penstock.storage import filesystem
from tests.conftest import PROJECT_ROOT
from tests.orchestrators._compiled_pipelines import write_tiny_pipeline
from tests.orchestrators._pods import (
    IMAGE,
    PASSWORD_VARIABLE,
    compile_for_pods,
    image_layers,
    secrets,
    uri_folders,
    uri_folders_under,
    write_one_component_pipeline,
)

# -- the image and the pod ----------------------------------------------------------------------


def test_image_is_the_build_contexts_filtered_by_their_dockerignore_and_layered(tmp_path):
    base, top = tmp_path / "base", tmp_path / "top"
    for path, text in {
        "base/.dockerignore": "# comment\n.git\n**/__pycache__\ndata/*.tmp\nbench/results\n!bench/results/keep.md\n",
        "base/pkg/__init__.py": "base", "base/pkg/__pycache__/x.pyc": "", "base/.git/HEAD": "ref",
        "base/data/a.csv": "1", "base/data/b.tmp": "", "base/data/deeper/c.tmp": "kept: * stays in one folder",
        "base/bench/results/r.json": "{}", "base/bench/results/keep.md": "kept by '!'",
        "base/Dockerfile": "FROM python:3.11-slim\nWORKDIR /srv\nWORKDIR app\nENV A=1 \\\n    B=\"two words\"\nENV C 3\n",
        "top/pkg/__init__.py": "top", "top/pipeline.py": "", "top/.venv/bin/python": "",  # no .dockerignore: defaults
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)

    image = pods.build_image([base, top], str(tmp_path / "image"))
    assert sorted(image.files) == [".dockerignore", "Dockerfile", "bench/results/keep.md", "data/a.csv",
                                   "data/deeper/c.tmp", "pipeline.py", "pkg/__init__.py"]
    assert (tmp_path / "image" / "pkg" / "__init__.py").read_text() == "top"  # the later layer wins
    assert image.workdir == "/srv/app" and image.env == {"A": "1", "B": "two words", "C": "3"}


def test_pod_has_its_own_folders_and_only_the_environment_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("SECRET_OF_THIS_SHELL", "x")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "Dockerfile").write_text(
        "FROM python:3.11-slim\nENV PENSTOCK_HOME=/tmp/penstock CACHE=/root/.cache DATA=/app/data OTHER=/opt/x\n"
        "WORKDIR /app\n")
    image = pods.build_image(str(tmp_path / "project"), str(tmp_path / "image"))
    pod = pods.Pod.create(image, str(tmp_path / "pods" / "t" / "attempt-1"))
    env = pod.environment(image, "/opt/python/bin/python", {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert env == {
        "LC_ALL": "C.UTF-8", **({"LANG": os.environ["LANG"]} if "LANG" in os.environ else {}),
        "PENSTOCK_HOME": f"{pod.tmp}/penstock", "CACHE": f"{pod.home}/.cache", "DATA": f"{pod.app}/data",
        "OTHER": "/opt/x", "PATH": f"/opt/python/bin:{pods.SYSTEM_PATH}", "HOME": pod.home, "TMPDIR": pod.tmp,
        "PYTHONPATH": pod.app, "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    assert sorted(os.listdir(pod.app)) == ["Dockerfile"] and os.listdir(pod.home) == os.listdir(pod.tmp) == []
    with pytest.raises(PenstockError, match="pod isolation sets HOME, PYTHONPATH itself"):
        pod.environment(image, "/opt/python/bin/python", {"HOME": "/root", "PYTHONPATH": "/src"})

    os.makedirs(os.path.join(pod.app, "gs:", "bucket", "x"))
    os.makedirs(os.path.join(pod.app, "__pycache__"))
    (tmp_path / "pods" / "t" / "attempt-1" / "app" / "__pycache__" / "m.pyc").write_text("")
    (tmp_path / "pods" / "t" / "attempt-1" / "tmp" / "scratch").write_text("")
    assert pod.left_behind(image) == ["app/gs:/bucket/x/", "tmp/scratch"]
    assert uri_folders(pod.left_behind(image)) == ["app/gs:/bucket/x/"]


# -- scheduling ---------------------------------------------------------------------------------


def _task(name: str, *dependencies: str) -> _Task:
    return _Task(name, dependencies, "c", {}, 0, 0.0, 2.0)


def test_independent_tasks_run_together_and_a_failure_stops_only_its_dependents():
    # a -> (b, c) ; b fails -> d (needs b) and e (needs d) never start; c -> f runs on.
    tasks = [_task("a"), _task("b", "a"), _task("c", "a"), _task("d", "b"), _task("f", "c"), _task("e", "d")]
    together = threading.Barrier(2, timeout=30)  # b and c must be running at the same time to pass it
    lock, running, most = threading.Lock(), [0], [0]

    def run(task: _Task) -> TaskRun:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        if task.name in ("b", "c"):
            together.wait()
        with lock:
            running[0] -= 1
        return TaskRun(task.name, [], 1 if task.name == "b" else 0, 1, 0.0, "")

    started, not_run = _schedule(tasks, run, parallelism=2)
    assert sorted(started) == ["a", "b", "c", "f"] and started["b"].returncode == 1
    assert not_run == ["d", "e"]
    assert most[0] == 2

    together = threading.Barrier(1)
    most[0] = 0
    _schedule(tasks, run, parallelism=1)
    assert most[0] == 1


# -- the run's state across task processes ------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_a_task_recording_after_another_failed_the_run_leaves_the_run_failed(backend, tmp_path, request):
    """Each task process caches the run's context; ML Metadata wrote that cached copy back with
    every execution, so a task finishing after another had failed the run set it RUNNING again."""
    from penstock.dsl.standard_artifacts import Examples
    from penstock.metadata import connection

    if backend == "sqlite":
        config = connection.sqlite(str(tmp_path / "m.sqlite"))
    else:
        config = request.getfixturevalue("mariadb_server").config(_database("state"))
    failing, finishing = MetadataStore(config), MetadataStore(config)  # two tasks' processes
    common = {"pipeline_name": "p", "run_id": "run-1", "inputs": {}}
    for store in (failing, finishing):
        store.begin_run("p", "run-1", ["a", "b", "c"])
    running = finishing.record_execution(node_id="b", type_name="penstock.test.B", state="RUNNING", outputs={},
                                         properties={}, **common)
    failed = failing.record_execution(node_id="a", type_name="penstock.test.A", state="RUNNING", outputs={},
                                      properties={}, **common)
    failing.finish_execution(failed, pipeline_name="p", run_id="run-1", node_id="a", state="FAILED", outputs={},
                             properties={"error": "boom"})
    failing.update_run("run-1", state="FAILED", error="a: boom")

    finishing.finish_execution(running, pipeline_name="p", run_id="run-1", node_id="b", state="COMPLETE",
                               outputs={"out": Examples(str(tmp_path / "b"))}, properties={})
    finishing.record_execution(node_id="c", type_name="penstock.test.C", state="COMPLETE", outputs={},
                               properties={}, **common)
    finishing.record_cached_executions([{"node_id": "c", "type_name": "penstock.test.C", "outputs": {},
                                         "properties": {}, **common}])
    run = MetadataStore(config).get_run("run-1")
    assert (run.state, run.error) == ("FAILED", "a: boom")
    assert [e.component_id for e in MetadataStore(config).run_executions("run-1")] == ["b", "a", "c", "c"]


def test_a_one_node_task_process_preloads_no_other_components_modules(tmp_path, monkeypatch):
    """A Kubeflow or Airflow task runs one node and exits: importing the other components'
    modules in the background only cost CPU, and raced the node's own imports into a deadlock."""
    from penstock.metadata import connection
    from penstock.runtime import preload
    from penstock.runtime.loader import load_pipeline
    from penstock.runtime.node_execution import NodeExecutor
    from penstock.runtime.single_node import run_single_node

    calls: list[list[str]] = []
    monkeypatch.setattr(preload, "start_preloading", lambda modules: calls.append(list(modules)) or threading.Thread())
    pipeline = load_pipeline(str(write_tiny_pipeline(tmp_path / "project")))
    metadata = f"sqlite:{tmp_path / 'm.sqlite'}"
    outcome = run_single_node(pipeline, "make_data", "run-1", metadata=metadata, pipeline_root=str(tmp_path / "root"))
    assert outcome.succeeded and calls == []
    # A whole run's executor does preload (so the check above can fail).
    store = MetadataStore(connection.parse(metadata))
    NodeExecutor(store, pipeline, "run-2", enable_cache=False).execute(pipeline.node("make_data"), {})
    assert len(calls) == 1


def test_a_task_running_past_the_timeout_is_killed_and_fails_the_run(tmp_path):
    from penstock.runtime.loader import load_pipeline

    project = tmp_path / "project"
    write_one_component_pipeline(project, "hangs", "import time\ntime.sleep(3600)")
    spec = str(tmp_path / "hangs.yaml")
    compile_kubeflow(load_pipeline(str(project / "pipeline.py")), str(project / "pipeline.py"), spec, image=IMAGE,
                     project_dir=str(project), allow_local_paths=True)
    with pytest.raises(CompiledRunError) as failure:
        run_compiled(spec, cwd=str(project), env={**os.environ, "PYTHONPATH": PROJECT_ROOT}, task_timeout_s=2,
                     parameters={"pipeline_root": str(tmp_path / "root"), "metadata": f"sqlite:{tmp_path / 'm.sqlite'}"})
    assert failure.value.result.tasks["hangs"].returncode == -9
    assert "killed after 2 s (task_timeout_s)" in str(failure.value)


# -- refused before anything runs ----------------------------------------------------------------


def test_pod_isolation_refuses_what_pods_could_not_share_and_secrets_not_given(tmp_path):
    project = tmp_path / "project"
    write_tiny_pipeline(project)
    from penstock.runtime.loader import load_pipeline

    spec = str(tmp_path / "tiny.yaml")
    pipeline = load_pipeline(str(project / "pipeline.py"))
    compile_kubeflow(pipeline, str(project / "pipeline.py"), spec, image=IMAGE, project_dir=str(project),
                     metadata=f"mysql://ml@127.0.0.1:9/db?password_env={PASSWORD_VARIABLE}",
                     metadata_secret="mlmd-db:password", allow_local_paths=True)
    workdir = tmp_path / "work"
    with pytest.raises(PipelineDefinitionError) as error:
        run_compiled(spec, isolation="pod", image=image_layers(project), workdir=str(workdir))
    assert "secret 'mlmd-db'" in str(error.value) and f"${PASSWORD_VARIABLE}" in str(error.value)
    with pytest.raises(PipelineDefinitionError) as error:
        run_compiled(spec, isolation="pod", image=image_layers(project), workdir=str(workdir),
                     secrets={"mlmd-db": {"password": "pw"}}, parameters={"metadata": "sqlite:/tmp/m.sqlite"})
    message = str(error.value)
    assert f"the pipeline root '{pipeline.pipeline_root}' is a local path" in message
    assert "the metadata store 'sqlite:/tmp/m.sqlite' is a local file" in message
    assert "pass parameters={'pipeline_root': 'gs://...' or 's3://...', 'metadata': 'mysql://...'}, or" in message
    with pytest.raises(PenstockError, match="cwd applies to isolation='shared'"):
        run_compiled(spec, isolation="pod", image=PROJECT_ROOT, cwd=str(project), secrets={"mlmd-db": {"password": "pw"}},
                     parameters={"pipeline_root": "gs://b/r"})
    assert not workdir.exists()  # refused before the image was built


# -- compiling with object-store data and destinations --------------------------------------------


def test_object_store_data_and_push_destination_compile_cleanly_local_ones_are_named(tmp_path):
    from examples.penguin.pipeline import create_pipeline

    remote = {"pipeline_root": "s3://bucket/root", "metadata": "mysql://ml@mysql:3306/mlmd"}
    penguin = os.path.join(PROJECT_ROOT, "examples", "penguin", "pipeline.py")
    pipeline = create_pipeline(data_root="s3://bucket/data/penguin", serving_dir="gs://bucket/serving")
    result = compile_kubeflow(pipeline, penguin, str(tmp_path / "ok.yaml"), image=IMAGE, project_dir=PROJECT_ROOT,
                              **remote)
    assert result.warnings == []

    local = create_pipeline(serving_dir=str(tmp_path / "serving"))
    with pytest.raises(PipelineDefinitionError) as error:
        compile_kubeflow(local, penguin, str(tmp_path / "local.yaml"), image=IMAGE, project_dir=PROJECT_ROOT, **remote)
    message = str(error.value)
    assert f"Pusher parameter 'push_destination' = '{tmp_path / 'serving'}' is a local path" in message
    assert "CsvExampleGen parameter 'input_base'" in message and "penguin/data' is a local path" in message
    assert "Trainer" not in message and "module_file" not in message  # module files are in the image


# -- pods on the GCS emulator and MariaDB ----------------------------------------------------------

POD_PIPELINE = textwrap.dedent('''
    import json
    import os
    import time

    import penstock
    from penstock.dsl.function_component import InputArtifact, OutputArtifact, component
    from penstock.dsl.pipeline import Pipeline
    from penstock.dsl.standard_artifacts import Examples, Model
    from penstock.storage import filesystem

    MEETING_POINT = "{meeting_point}"


    def meet(me, other):
        """Return once `other` has started too: two tasks run one after the other never both return."""
        filesystem.write_text(filesystem.join(MEETING_POINT, me), me)
        deadline = time.time() + 300
        while not filesystem.exists(filesystem.join(MEETING_POINT, other)):
            if time.time() > deadline:
                raise RuntimeError(f"{{other}} did not start while {{me}} was running")
            time.sleep(0.2)


    def private_folders():
        return [os.getcwd(), os.environ["HOME"], os.environ["TMPDIR"], os.environ["PENSTOCK_HOME"]]


    @component
    def leave_note(examples: OutputArtifact[Examples]):
        meet("leave_note", "look_around")
        for folder in private_folders():
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "note.txt"), "w") as f:
                f.write("left by leave_note")
        with open(os.path.join(examples.uri, "data.txt"), "w") as f:
            f.write("1 2 3")
        examples.custom_properties["notes"] = json.dumps([os.path.join(d, "note.txt") for d in private_folders()])
        examples.custom_properties["cwd"] = os.getcwd()
        examples.custom_properties["penstock"] = penstock.__file__
        examples.custom_properties["environment"] = json.dumps(sorted(os.environ))
        examples.custom_properties["folders"] = json.dumps({{k: os.environ[k] for k in ("HOME", "TMPDIR", "PYTHONPATH")}})


    @component
    def look_around(model: OutputArtifact[Model]):
        meet("look_around", "leave_note")
        with open(os.path.join(model.uri, "model.txt"), "w") as f:
            f.write("looked around")


    @component
    def read_note(examples: InputArtifact[Examples], model: OutputArtifact[Model]):
        candidates = json.loads(examples.custom_properties["notes"]) + [os.path.join(d, "note.txt") for d in private_folders()]
        model.custom_properties["found"] = json.dumps(sorted({{p for p in candidates if os.path.exists(p)}}))
        model.custom_properties["cwd"] = os.getcwd()
        with open(os.path.join(examples.uri, "data.txt")) as f:  # came through the object store
            total = sum(int(x) for x in f.read().split())
        with open(os.path.join(model.uri, "sum.txt"), "w") as f:
            f.write(str(total))


    @component
    def flaky(model: OutputArtifact[Model]):
        # The first attempt fails; KFP retries in a new pod, which must not see the first one's file.
        attempted = filesystem.join(MEETING_POINT, "flaky-attempted")
        if not filesystem.exists(attempted):
            with open("first-attempt.txt", "w") as f:
                f.write("x")
            filesystem.write_text(attempted, "1")
            raise RuntimeError("the first attempt fails on purpose")
        model.custom_properties["saw_first_attempt"] = int(os.path.exists("first-attempt.txt"))


    note = leave_note()
    pipeline = Pipeline("pods", [note, look_around(), read_note(examples=note.outputs.examples),
                                 flaky().with_retry(max_attempts=2, backoff_seconds=0)])
''')
TASK_TIMEOUT_S = 300  # a hung task fails the test instead of hanging it
# Set by penstock itself in every task process (penstock._env), not given by the pod.
# Set by the task process itself: logging quieting, and the user module files it loaded (for
# Beam worker processes it starts, penstock.runtime.user_code).
TASK_PROCESS_VARIABLES = {"TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY", "GLOG_minloglevel", "PENSTOCK_USER_MODULES"}


def _database(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _outputs(store: MetadataStore, run_id: str) -> dict[str, dict]:
    """component -> output key -> artifact, for the COMPLETE executions of the run."""
    outputs = {}
    for record in store.run_executions(run_id):
        if record.state == "COMPLETE":
            outputs[record.component_id] = {k: v[0] for k, v in store.execution_artifacts(record.id)[1].items()}
    return outputs


@pytest.fixture(scope="module")
def pod_run(tmp_path_factory, gcs_store, mariadb_server):
    """One pod-isolated run of POD_PIPELINE on a gs:// root and MariaDB, and what it recorded."""
    tmp = tmp_path_factory.mktemp("pods")
    project, prefix = tmp / "project", gcs_store.fresh_prefix("pods")
    project.mkdir()
    (project / "pipeline.py").write_text(POD_PIPELINE.format(meeting_point=f"{prefix}/meeting-point"))
    database = _database("pods")
    url = mariadb_server.url(database, password_env=PASSWORD_VARIABLE)
    compile_for_pods(project, tmp / "pods.yaml", pipeline_root=f"{prefix}/root", metadata=url)
    workdir = tmp / "work"
    result = run_compiled(str(tmp / "pods.yaml"), isolation="pod", image=image_layers(project), workdir=str(workdir),
                          env=gcs_store.env, secrets=secrets(mariadb_server), task_timeout_s=TASK_TIMEOUT_S)
    store = MetadataStore(mariadb_server.config(database))
    return {"tmp": tmp, "project": project, "prefix": prefix, "result": result, "store": store, "workdir": workdir,
            "spec": tmp / "pods.yaml"}


def test_each_task_runs_in_its_own_pod_and_none_sees_another_ones_files(pod_run, gcs_store, mariadb_server,
                                                                       monkeypatch):
    gcs_store.activate(monkeypatch)
    result, store, workdir = pod_run["result"], pod_run["store"], pod_run["workdir"]
    assert result.succeeded and sorted(result.tasks) == ["flaky", "leave-note", "look-around", "read-note"]
    outputs = _outputs(store, result.run_id)
    note, reader = outputs["leave_note"]["examples"], outputs["read_note"]["model"]

    # The downstream task found none of the files the upstream one left in its folders...
    assert len(json.loads(note.custom_properties["notes"])) == 4
    assert json.loads(reader.custom_properties["found"]) == []
    # ...though it got its data, through the bucket.
    assert filesystem.read_text(filesystem.join(reader.uri, "sum.txt")) == "6"
    assert note.uri.startswith(pod_run["prefix"] + "/root/") and reader.uri.startswith(pod_run["prefix"] + "/root/")

    # Every attempt had its own folders under the run's workdir, removed once its task succeeded.
    folders = [folder for task in result.tasks.values() for folder in task.folders]
    assert len(folders) == len(set(folders)) == 5  # flaky took two attempts, each in a new pod
    assert all(f.startswith(str(workdir / "pods")) for f in folders)
    assert not os.path.exists(workdir / "pods") and not os.path.exists(workdir / "image")
    cwd = note.custom_properties["cwd"]
    assert cwd == os.path.join(result.tasks["leave-note"].folders[0], "app")
    assert reader.custom_properties["cwd"] == os.path.join(result.tasks["read-note"].folders[0], "app")
    assert note.custom_properties["penstock"] == os.path.join(cwd, "penstock", "__init__.py")  # the image's copy
    root = result.tasks["leave-note"].folders[0]
    assert json.loads(note.custom_properties["folders"]) == {
        "HOME": f"{root}/home", "TMPDIR": f"{root}/tmp", "PYTHONPATH": f"{root}/app"}
    # What the tasks left in their folders, recorded before they were removed.
    assert {p for p in result.tasks["leave-note"].left_behind if p.endswith("note.txt")} == {
        "attempt-1/app/note.txt", "attempt-1/home/note.txt", "attempt-1/tmp/note.txt", "attempt-1/tmp/penstock/note.txt"}
    assert "attempt-1/app/first-attempt.txt" in result.tasks["flaky"].left_behind
    assert uri_folders(p for task in result.tasks.values() for p in task.left_behind) == []

    # A retry is a new pod: the second attempt did not see the first one's file.
    assert result.tasks["flaky"].attempts == 2 and outputs["flaky"]["model"].custom_properties["saw_first_attempt"] == 0

    # Only what a pod is given: the image's ENV, its own folders, the store's variables, the secret.
    seen = set(json.loads(note.custom_properties["environment"])) - TASK_PROCESS_VARIABLES
    expected = {"PATH", "HOME", "TMPDIR", "PYTHONPATH", "PENSTOCK_HOME", "PYTHONUNBUFFERED", "TF_USE_LEGACY_KERAS",
                "PIP_DISABLE_PIP_VERSION_CHECK", "UV_NO_CACHE", PASSWORD_VARIABLE, *gcs_store.env}
    assert seen - {k for k in seen if k == "LANG" or k.startswith("LC_")} == expected
    assert mariadb_server.password not in pod_run["spec"].read_text()


def test_two_tasks_of_one_run_ran_at_once_on_one_mariadb_store(pod_run):
    result, store = pod_run["result"], pod_run["store"]
    # leave_note and look_around each waited for the other to start (their meeting point in the
    # bucket): both completing proves they ran at the same time; ML Metadata shows it too.
    executions = {r.component_id: r for r in store.run_executions(result.run_id) if r.state == "COMPLETE"}
    note, look = executions["leave_note"], executions["look_around"]
    assert note.start_ms < look.end_ms and look.start_ms < note.end_ms
    assert store.get_run(result.run_id).state == "COMPLETE"
    assert [r.state for r in store.run_executions(result.run_id) if r.component_id == "flaky"] == ["FAILED", "COMPLETE"]


def test_the_same_spec_sharing_one_folder_lets_a_task_see_another_ones_files(pod_run, gcs_store, mariadb_server):
    """The control: with isolation="shared", the same check finds the upstream task's note, so
    the pod test above can fail."""
    tmp, project = pod_run["tmp"], pod_run["project"]
    database = _database("shared")
    shared = {"HOME": str(tmp / "shared-home"), "TMPDIR": str(tmp / "shared-tmp"),
              "PENSTOCK_HOME": str(tmp / "shared-home" / "penstock")}
    for folder in shared.values():
        os.makedirs(folder, exist_ok=True)
    result = run_compiled(
        str(pod_run["spec"]), cwd=str(project), parallelism=2,
        parameters={"pipeline_root": f"{pod_run['prefix']}/shared-root",
                    "metadata": mariadb_server.url(database, password_env=PASSWORD_VARIABLE)},
        env={**os.environ, **gcs_store.env, **shared, "PYTHONPATH": PROJECT_ROOT}, secrets=secrets(mariadb_server),
        task_timeout_s=TASK_TIMEOUT_S,
    )
    outputs = _outputs(MetadataStore(mariadb_server.config(database)), result.run_id)
    found = json.loads(outputs["read_note"]["model"].custom_properties["found"])
    assert str(project / "note.txt") in found and os.path.join(shared["HOME"], "note.txt") in found
    assert result.tasks["leave-note"].folders == []  # no pods


# -- a component that cannot reach the store --------------------------------------------------------

UNREACHABLE_PIPELINE = textwrap.dedent('''
    import os

    from penstock.components.transform import Transform
    from penstock.dsl.function_component import InputArtifact, OutputArtifact, component
    from penstock.dsl.pipeline import Pipeline
    from penstock.dsl.standard_artifacts import Examples, Model, Schema, TransformGraph

    HERE = os.path.dirname(os.path.abspath(__file__))
    # Beam workers on other machines: they cannot be given local copies of what they cannot reach.
    REMOTE_WORKERS = ["--runner=PortableRunner", "--job_endpoint=127.0.0.1:9", "--environment_type=EXTERNAL",
                      "--environment_config=127.0.0.1:9"]


    @component
    def examples_source(examples: OutputArtifact[Examples]):
        os.makedirs(os.path.join(examples.uri, "Split-train"))
        with open(os.path.join(examples.uri, "Split-train", "data.txt"), "w") as f:
            f.write("1")
        examples.split_names = ["train"]


    @component
    def schema_source(schema: OutputArtifact[Schema]):
        with open(os.path.join(schema.uri, "schema.pbtxt"), "w") as f:
            f.write('feature {{ name: "x" type: INT }}\\n')


    @component
    def after_transform(graph: InputArtifact[TransformGraph], model: OutputArtifact[Model]):
        pass


    @component
    def independent(examples: InputArtifact[Examples], model: OutputArtifact[Model]):
        with open(os.path.join(model.uri, "model.txt"), "w") as f:
            f.write(",".join(examples.split_names))


    examples = examples_source()
    schema = schema_source()
    transform = Transform(examples=examples.outputs.examples, schema=schema.outputs.schema,
                          module_file=os.path.join(HERE, "preprocessing.py")).with_beam_pipeline_args(REMOTE_WORKERS)
    pipeline = Pipeline("unreachable", [examples, schema, transform,
                                        after_transform(graph=transform.outputs["transform_graph"]),
                                        independent(examples=examples.outputs.examples)])
''')


def test_gs_root_a_component_cannot_reach_fails_naming_it_and_the_reason(tmp_path, gcs_store, mariadb_server,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    gcs_store.activate(monkeypatch)
    project, prefix = tmp_path / "project", gcs_store.fresh_prefix("unreachable")
    project.mkdir()
    (project / "pipeline.py").write_text(UNREACHABLE_PIPELINE.format())
    (project / "preprocessing.py").write_text("def preprocessing_fn(inputs):\n    return dict(inputs)\n")
    database = _database("unreachable")
    compile_for_pods(project, tmp_path / "unreachable.yaml", pipeline_root=f"{prefix}/root",
                     metadata=mariadb_server.url(database, password_env=PASSWORD_VARIABLE))
    workdir = tmp_path / "work"
    with pytest.raises(CompiledRunError) as failure:
        run_compiled(str(tmp_path / "unreachable.yaml"), isolation="pod", image=image_layers(project),
                     workdir=str(workdir), env=gcs_store.env, secrets=secrets(mariadb_server),
                     task_timeout_s=TASK_TIMEOUT_S)
    result = failure.value.result
    message = " ".join(str(failure.value).split())  # the task's console output wraps long lines
    assert failure.value.component_id == "transform" and result.failed == ["transform"]
    assert result.not_run == ["after-transform"]
    assert sorted(n for n, t in result.tasks.items() if t.returncode == 0) == [
        "examples-source", "independent", "schema-source"]
    # The reason, from the task's own output: which component, which URI, what cannot reach it, why no copies.
    assert "✗ Transform" in message and "cannot run on PortableRunner" in message
    assert "TensorFlow's GCS filesystem cannot be pointed at a GCS emulator" in message
    assert "cannot give them local copies instead" in message
    assert f"{prefix}/root/" in message
    # The failed task's pod is kept, with its log, and the message says where.
    kept = workdir / "pods" / "transform" / "attempt-1"
    assert f"kept in {workdir / 'pods'}" in message and (kept / "app" / "pipeline.py").is_file()
    assert "cannot run on PortableRunner" in (kept / "output.log").read_text()
    assert result.tasks["transform"].folders == [str(kept)]
    assert sorted(os.listdir(workdir / "pods")) == ["transform"]  # the others' were removed

    store = MetadataStore(mariadb_server.config(database))
    executions = {r.component_id: r for r in store.run_executions(result.run_id)}
    assert sorted(executions) == ["Transform", "examples_source", "independent", "schema_source"]
    assert executions["Transform"].state == "FAILED" and "TensorFlow's GCS filesystem" in executions["Transform"].error
    assert store.get_run(result.run_id).state == "FAILED"
    # Nothing was written under a local folder named after the URI scheme, anywhere.
    assert uri_folders(p for task in result.tasks.values() for p in task.left_behind) == []
    assert uri_folders_under(workdir, project, tmp_path, PROJECT_ROOT) == []
    assert not filesystem.exists(f"{prefix}/root/Transform")  # refused before writing anything
