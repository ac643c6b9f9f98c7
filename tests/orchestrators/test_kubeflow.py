"""Compile to Kubeflow Pipelines with the kfp SDK, load the spec back into kfp's PipelineSpec proto,
and run the compiled tasks' own commands locally: the artifacts must match ``penstock run``'s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from penstock.cli import cli
from penstock.dsl.component import Component, ComponentSpec, Parameter
from penstock.errors import ExecutionError, PipelineDefinitionError
from penstock.metadata.connection import sqlite
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.kubeflow.compiler import compile_kubeflow
from penstock.orchestrators.kubeflow.local_executor import load_spec, run_compiled, task_order
from penstock.runtime.loader import load_pipeline
from tests.conftest import PENSTOCK, PROJECT_ROOT
from tests.orchestrators._compiled_pipelines import run_snapshot, write_tiny_pipeline

IMAGE = "registry.example.com/penstock:test"
# Compiles in a fresh interpreter and reports which heavy modules the compile imported.
COMPILE_AND_LIST_IMPORTS = textwrap.dedent("""
    import json, sys
    from penstock.cli import main
    code = 0  # main() returns when the command succeeded
    try:
        main(sys.argv[1:])
    except SystemExit as e:  # main() always exits, with the command's code
        code = e.code
    heavy = ["tensorflow", "apache_beam", "tensorflow_data_validation", "kubernetes", "airflow"]
    print("IMPORTED=" + json.dumps([m for m in heavy if m in sys.modules]))
    sys.exit(code)
""")


def _env(**extra):
    return {**os.environ, "PYTHONPATH": PROJECT_ROOT, **extra}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    project = tmp_path_factory.mktemp("project")
    write_tiny_pipeline(project)
    home = project / "home"
    proc = subprocess.run(
        [sys.executable, "-c", COMPILE_AND_LIST_IMPORTS, "compile", "--target", "kubeflow", "pipeline.py",
         "-o", "build/tiny.yaml", "--image", IMAGE, "--allow-local-paths"],
        cwd=project, env=_env(PENSTOCK_HOME=str(home)), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return project, proc


def test_spec_loads_into_kfp_proto_with_one_task_per_component(compiled):
    from kfp import dsl

    project, proc = compiled
    imported = json.loads(proc.stdout.split("IMPORTED=")[1])
    assert imported == [], f"compiling imported {imported}"
    assert "local-only: pipeline root" in proc.stderr and "local-only: metadata" in proc.stderr
    # Compiling writes nothing to the pipeline root (TFX's compiler uploads wheels there).
    assert not (project / "home").exists()

    spec = load_spec(str(project / "build" / "tiny.yaml"))
    assert spec.pipeline_info.name == "tiny"
    assert task_order(spec) == ["make-data", "train", "evaluate"]
    tasks = spec.root.dag.tasks
    assert list(tasks["make-data"].dependent_tasks) == []
    assert list(tasks["train"].dependent_tasks) == ["make-data"]
    assert sorted(tasks["evaluate"].dependent_tasks) == ["make-data", "train"]
    for name, task in tasks.items():
        assert task.caching_options.enable_cache is False, name  # penstock's cache decides in the task
        assert task.inputs.parameters["run_id"].runtime_value.constant.string_value == dsl.PIPELINE_JOB_ID_PLACEHOLDER
        assert task.inputs.parameters["pipeline_root"].component_input_parameter == "pipeline_root"
    assert tasks["train"].retry_policy.max_retry_count == 2
    assert tasks["train"].retry_policy.backoff_duration.seconds == 2
    assert tasks["make-data"].retry_policy.max_retry_count == 0

    parameters = spec.root.input_definitions.parameters
    assert parameters["pipeline_root"].default_value.string_value == str(project / "home" / "pipelines" / "tiny")
    assert parameters["metadata"].default_value.string_value == f"sqlite:{project / 'home' / 'metadata.sqlite'}"

    executor = spec.deployment_spec.fields["executors"].struct_value.fields["exec-train"]
    container = executor.struct_value.fields["container"].struct_value.fields
    assert container["image"].string_value == IMAGE
    command = [v.string_value for v in container["command"].list_value.values]
    args = [v.string_value for v in container["args"].list_value.values]
    assert command == ["python", "-m", "penstock", "run-node"]
    assert args[:3] == ["pipeline.py", "--node", "train"]
    assert "--metadata" in args and "--pipeline-root" in args and "--run-id" in args
    assert args[args.index("--max-attempts") + 1] == "1"  # KFP owns retries; the task tries once


def test_compiled_tasks_run_locally_and_record_what_penstock_run_records(compiled, tmp_path):
    project, _ = compiled
    # The reference: `penstock run` of the same file, in its own PENSTOCK_HOME.
    reference_home = tmp_path / "reference"
    proc = subprocess.run([*PENSTOCK, "run", "pipeline.py"], cwd=project, env=_env(PENSTOCK_HOME=str(reference_home)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    reference_db = reference_home / "metadata.sqlite"
    reference_run = MetadataStore(sqlite(str(reference_db))).latest_run("tiny").run_id

    # The compiled spec, with the run-time pipeline parameters pointing at another store and root.
    kfp_db, kfp_root = tmp_path / "kfp" / "m.sqlite", tmp_path / "kfp" / "root"
    result = run_compiled(
        str(project / "build" / "tiny.yaml"),
        parameters={"metadata": f"sqlite:{kfp_db}", "pipeline_root": str(kfp_root)},
        cwd=str(project), env=_env(PENSTOCK_HOME=str(tmp_path / "unused")),
    )
    assert result.succeeded and list(result.tasks) == ["make-data", "train", "evaluate"]
    assert not (tmp_path / "unused").exists(), "a task ignored the metadata/pipeline_root parameters"

    run = MetadataStore(sqlite(str(kfp_db))).get_run(result.run_id)  # the KFP run id is the penstock run id
    assert run.state == "COMPLETE"
    compiled_snapshot = run_snapshot(kfp_db, result.run_id)
    assert compiled_snapshot == run_snapshot(reference_db, reference_run)
    assert compiled_snapshot["train"]["outputs"]["total"][0]["custom_properties"] == {"value": "20.0"}
    assert compiled_snapshot["evaluate"]["outputs"]["evaluation"][0]["custom_properties"] == {"ok": 1}


def test_failing_task_stops_the_run_naming_the_task(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pipeline.py").write_text(textwrap.dedent('''
        import os

        from penstock.dsl.function_component import OutputArtifact, component
        from penstock.dsl.pipeline import Pipeline
        from penstock.dsl.standard_artifacts import Examples

        @component
        def broken(examples: OutputArtifact[Examples]):
            raise ValueError("column 'x' missing")

        @component
        def never(examples: OutputArtifact[Examples]):
            pass

        first = broken()
        second = never()
        second.add_upstream(first)
        here = os.path.dirname(os.path.abspath(__file__))
        pipeline = Pipeline("broken", [first, second], pipeline_root=os.path.join(here, "root"),
                            metadata=os.path.join(here, "m.sqlite"))
    '''))
    pipeline = load_pipeline(str(project / "pipeline.py"))
    output = str(tmp_path / "broken.yaml")
    compile_kubeflow(pipeline, str(project / "pipeline.py"), output, image=IMAGE, allow_local_paths=True,
                     project_dir=str(project))
    with pytest.raises(ExecutionError) as failure:
        run_compiled(output, cwd=str(project), env=_env())
    assert failure.value.component_id == "broken"
    assert "column 'x' missing" in str(failure.value)
    store = MetadataStore(sqlite(str(project / "m.sqlite")))
    run = store.latest_run("broken")
    assert run.state == "FAILED"
    assert [r.component_id for r in store.run_executions(run.run_id)] == ["broken"]  # `never` never started


def _pipeline_with(tmp_path, root, metadata, **params):
    from penstock.components.example_gen import CsvExampleGen

    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "pipeline.py").write_text("# compiled in-process below\n")
    from penstock.dsl.pipeline import Pipeline

    gen = CsvExampleGen(**params)
    return project, Pipeline("remote", [gen], pipeline_root=root, metadata=metadata)


def test_local_paths_are_an_error_naming_them_unless_allowed(tmp_path):
    project, pipeline = _pipeline_with(tmp_path, str(tmp_path / "root"), str(tmp_path / "m.sqlite"),
                                       input_base="/data/penguins")
    output = str(tmp_path / "out.yaml")
    with pytest.raises(PipelineDefinitionError) as error:
        compile_kubeflow(pipeline, str(project / "pipeline.py"), output, image=IMAGE, project_dir=str(project))
    message = str(error.value)
    assert "CsvExampleGen parameter 'input_base' = '/data/penguins' is a local path" in message
    assert f"pipeline root '{tmp_path / 'root'}' is local" in message
    assert "SQLite" in message and "--allow-local-paths" in message
    assert not os.path.exists(output)

    result = compile_kubeflow(pipeline, str(project / "pipeline.py"), output, image=IMAGE, project_dir=str(project),
                              allow_local_paths=True)
    assert len(result.warnings) == 3 and os.path.exists(output)


def test_remote_settings_compile_cleanly_and_set_kfp_pipeline_root(tmp_path):
    project, pipeline = _pipeline_with(tmp_path, "gs://bucket/penstock", "mysql://ml@mysql.kubeflow:3306/mlmd",
                                       input_base="gs://bucket/data/penguins")
    output = str(tmp_path / "out.yaml")
    result = compile_kubeflow(pipeline, str(project / "pipeline.py"), output, image=IMAGE, project_dir=str(project))
    assert result.warnings == []
    spec = load_spec(output)
    assert spec.default_pipeline_root == "gs://bucket/penstock"
    assert spec.root.input_definitions.parameters["metadata"].default_value.string_value == \
        "mysql://ml@mysql.kubeflow:3306/mlmd"


def test_pipeline_file_outside_the_image_build_context_is_an_error(tmp_path):
    project, pipeline = _pipeline_with(tmp_path, "gs://b/r", "mysql://ml@h:3306/db", input_base="gs://b/d")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(PipelineDefinitionError, match="outside the project directory"):
        compile_kubeflow(pipeline, str(project / "pipeline.py"), str(tmp_path / "o.yaml"), image=IMAGE,
                         project_dir=str(elsewhere))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "kubeflow"], "--target kubeflow needs --image"),
        (["--target", "argo", "--image", IMAGE], "Invalid value for '--target'"),
        (["--target", "airflow", "--image", IMAGE], "--image applies to --target kubeflow only"),
    ],
)
def test_cli_usage_errors(tmp_path, args, message):
    pipeline_file = write_tiny_pipeline(tmp_path)
    result = CliRunner().invoke(cli, ["compile", str(pipeline_file), *args, "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o").exists()


def test_load_spec_rejects_a_file_that_is_not_a_pipeline_spec(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("pipelineInfo: {name: x}\nroot: {dag: {tasks: {a: {componentRef: {nam: c}}}}}\n")
    with pytest.raises(PipelineDefinitionError, match="is not a KFP pipeline spec"):
        load_spec(str(path))


class UsesModuleFile(Component):
    SPEC = ComponentSpec(parameters={"module_file": Parameter(str, user_code=True),
                                     "input_base": Parameter(str, default="gs://b/data")})
    EXECUTOR = "penstock.nowhere:run"  # never run: only compiled


def test_module_files_inside_the_image_are_fine_outside_it_are_not(tmp_path):
    from penstock.dsl.pipeline import Pipeline

    project = tmp_path / "project"
    project.mkdir()
    (project / "pipeline.py").write_text("# compiled in-process\n")
    remote = {"pipeline_root": "gs://b/root", "metadata": "mysql://ml@h:3306/db"}
    inside = Pipeline("p", [UsesModuleFile(module_file=str(project / "utils.py"))], **remote)
    result = compile_kubeflow(inside, str(project / "pipeline.py"), str(tmp_path / "in.yaml"), image=IMAGE,
                              project_dir=str(project))
    assert result.warnings == []
    outside = Pipeline("p", [UsesModuleFile(module_file="/opt/elsewhere/utils.py", input_base="./data")], **remote)
    with pytest.raises(PipelineDefinitionError) as error:
        compile_kubeflow(outside, str(project / "pipeline.py"), str(tmp_path / "out.yaml"), image=IMAGE,
                         project_dir=str(project))
    assert "UsesModuleFile parameter 'module_file' = '/opt/elsewhere/utils.py' is a local path" in str(error.value)
    assert "'input_base' = './data'" in str(error.value)


PENGUIN_PIPELINE = os.path.join(PROJECT_ROOT, "examples", "penguin", "pipeline.py")


@pytest.mark.skipif(not os.path.exists(PENGUIN_PIPELINE), reason="examples/penguin/pipeline.py is not written yet")
def test_penguin_pipeline_compiles_and_its_local_data_is_named(tmp_path):
    pipeline = load_pipeline(PENGUIN_PIPELINE)
    output = str(tmp_path / "penguin.yaml")
    with pytest.raises(PipelineDefinitionError, match="is a local path"):
        compile_kubeflow(pipeline, PENGUIN_PIPELINE, output, image=IMAGE, project_dir=PROJECT_ROOT,
                         metadata="mysql://ml@mysql:3306/mlmd", pipeline_root="gs://bucket/penstock")
    result = compile_kubeflow(pipeline, PENGUIN_PIPELINE, output, image=IMAGE, project_dir=PROJECT_ROOT,
                              metadata="mysql://ml@mysql:3306/mlmd", pipeline_root="gs://bucket/penstock",
                              allow_local_paths=True)
    spec = load_spec(output)
    assert sorted(result.tasks.values()) == sorted(n.id for n in pipeline.order)
    assert len(task_order(spec)) == len(pipeline.order)
