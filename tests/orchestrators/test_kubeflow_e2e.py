"""The penguin pipeline as Kubeflow would run it: compiled by ``penstock compile`` with an
object-store pipeline root, object-store data and push destination and MariaDB metadata (the
password from a Kubernetes secret), then every task run in a pod of its own
(``run_compiled(isolation="pod")``: its own copy of the image, HOME and TMPDIR, nothing shared
but the bucket and MariaDB, independent tasks in parallel) to a pushed model.

It runs on the GCS emulator, which TensorFlow's own GCS filesystem cannot be pointed at: penstock
gives the TensorFlow components local copies in their pods and uploads what they write. (S3 with
MariaDB, where TensorFlow can reach the bucket, runs the same pipeline in
tests/orchestrators/test_object_store_runs.py.) One run, many assertions on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import uuid
from typing import Any

import pytest

from penstock.dsl.standard_artifacts import Examples, PushedModel
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.kubeflow.local_executor import run_compiled
from penstock.storage import filesystem
from tests.conftest import PENSTOCK, PROJECT_ROOT
from tests.orchestrators._pods import (
    IMAGE,
    PASSWORD_VARIABLE,
    SECRET,
    image_layers,
    secrets,
    uri_folders,
    uri_folders_under,
)

pytestmark = pytest.mark.slow

# The pipeline file the test adds to the image, over the repository: the example pointed at the bucket.
PIPELINE_FILE = textwrap.dedent("""
    from examples.{example}.pipeline import create_pipeline

    pipeline = create_pipeline(data_root={data!r}, serving_dir={serving!r}, train_steps={steps})
""")
PENGUIN_TRAIN_STEPS = 100  # the example's default
COMPONENTS = ["CsvExampleGen", "Evaluator", "ExampleValidator", "InfraValidator", "Pusher", "SchemaGen",
              "StatisticsGen", "Trainer", "Transform", "latest_blessed_model"]
TENSORFLOW_COMPONENTS = ("Transform", "Trainer", "Evaluator")


def compile_example(example: str, object_store: Any, mariadb_server: Any, tmp: Any, steps: int) -> dict[str, Any]:
    """Upload the example's data and compile the example for it, as a user would."""
    prefix = object_store.fresh_prefix(example)
    data = object_store.upload(os.path.join(PROJECT_ROOT, "examples", example, "data"), f"{prefix}/data")
    overlay = tmp / "overlay"
    overlay.mkdir()
    (overlay / "kfp_pipeline.py").write_text(
        PIPELINE_FILE.format(example=example, data=data, serving=f"{prefix}/serving", steps=steps))
    database = f"{example}_{uuid.uuid4().hex[:8]}"
    spec = tmp / f"{example}.yaml"
    # From the project root (the image's build context), with the file's path in the image.
    compiled = subprocess.run(
        [*PENSTOCK, "compile", "--target", "kubeflow", str(overlay / "kfp_pipeline.py"),
         "--pipeline-path", "kfp_pipeline.py", "-o", str(spec), "--image", IMAGE, "--pipeline-root", f"{prefix}/root",
         "--metadata", mariadb_server.url(database, password_env=PASSWORD_VARIABLE), "--metadata-secret", ":".join(SECRET)],
        cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": PROJECT_ROOT}, capture_output=True, text=True, timeout=120,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return {"example": example, "prefix": prefix, "data": data, "spec": spec, "overlay": overlay,
            "workdir": tmp / "work", "compiled": compiled, "store": MetadataStore(mariadb_server.config(database)),
            "tmp": tmp, "env": object_store.env}


def run_example(compiled: dict[str, Any], mariadb_server: Any) -> dict[str, Any]:
    """Run the compiled example with every task in a pod of its own."""
    result = run_compiled(str(compiled["spec"]), isolation="pod", image=image_layers(compiled["overlay"]),
                          workdir=str(compiled["workdir"]), env=compiled["env"], secrets=secrets(mariadb_server),
                          task_timeout_s=900)
    return {**compiled, "result": result}


@pytest.fixture(scope="module")
def penguin_run(tmp_path_factory, gcs_store, mariadb_server):
    compiled = compile_example("penguin", gcs_store, mariadb_server, tmp_path_factory.mktemp("penguin"),
                               PENGUIN_TRAIN_STEPS)
    return run_example(compiled, mariadb_server)


def _check_pushed_through_pods(run: dict[str, Any], mariadb_server: Any) -> dict[str, Any]:
    """What a pipeline run in pods must show; returns the executions by component."""
    result, store, prefix, example = run["result"], run["store"], run["prefix"], run["example"]
    assert run["compiled"].stderr.count("warning") == 0, run["compiled"].stderr  # nothing local
    assert mariadb_server.password not in run["spec"].read_text()

    # Every task ran and is COMPLETE in ML Metadata, under the one run context the KFP run id names.
    assert result.succeeded and len(result.tasks) == len(COMPONENTS)
    assert store.get_run(result.run_id).state == "COMPLETE"
    executions = {r.component_id: r for r in store.run_executions(result.run_id)}
    assert sorted(executions) == COMPONENTS
    assert {r.state for r in executions.values()} == {"COMPLETE"}

    # ExampleGen read the data from the bucket.
    assert executions["CsvExampleGen"].parameters["input_base"] == run["data"]
    # Every artifact the run produced is LIVE, in the bucket, with its files.
    for component, record in executions.items():
        for key, artifacts in store.execution_artifacts(record.id)[1].items():
            for artifact in artifacts:
                assert artifact.state.value == "LIVE", (component, key)
                assert artifact.uri.startswith(f"{prefix}/root/{component}/{key}/"), (component, key, artifact.uri)
                assert filesystem.list_files(artifact.uri), (component, key, artifact.uri)

    # The model is pushed to the bucket in TF Serving's layout, named in models.config.
    [pushed] = store.execution_artifacts(executions["Pusher"].id)[1]["pushed_model"]
    assert isinstance(pushed, PushedModel) and pushed.get_property("pushed") == 1
    version_dir = pushed.custom_properties["pushed_destination"]
    assert version_dir == f"{prefix}/serving/{example}/{pushed.get_property('pushed_version')}"
    assert filesystem.is_file(f"{version_dir}/saved_model.pb")
    assert filesystem.list_names(f"{version_dir}/variables")
    models_config = filesystem.read_text(f"{prefix}/serving/models.config")
    assert f'name: "{example}"' in models_config and f"{prefix}/serving/{example}" in models_config

    # Every task attempt had a pod of its own, removed as soon as its task succeeded (before any
    # task depending on it started): no task could rely on another's local files.
    folders = [folder for task in result.tasks.values() for folder in task.folders]
    assert len(folders) == len(set(folders)) == len(COMPONENTS)
    assert not any(os.path.exists(folder) for folder in folders) and os.listdir(run["workdir"]) == []
    # Nothing was written to a local folder named after the URI scheme, in a pod or here.
    assert uri_folders(p for task in result.tasks.values() for p in task.left_behind) == []
    assert uri_folders_under(run["tmp"], PROJECT_ROOT) == []

    # Independent tasks ran at the same time, as KFP runs them: the Evaluator and the
    # InfraValidator (both waiting for the Trainer only) overlap in ML Metadata's records.
    evaluator, infra = executions["Evaluator"], executions["InfraValidator"]
    assert evaluator.start_ms < infra.end_ms and infra.start_ms < evaluator.end_ms
    return executions


def test_penguin_on_gcs_and_mariadb_runs_in_pods_to_a_pushed_model(penguin_run, gcs_store, mariadb_server,
                                                                     monkeypatch):
    gcs_store.activate(monkeypatch)
    executions = _check_pushed_through_pods(penguin_run, mariadb_server)
    store = penguin_run["store"]
    [examples] = store.execution_artifacts(executions["CsvExampleGen"].id)[1]["examples"]
    assert isinstance(examples, Examples) and sum(json.loads(examples.custom_properties["row_counts"]).values()) == 334
    # TensorFlow cannot reach the GCS emulator: penstock gave those components local copies, in
    # their own pods, and uploaded what they wrote.
    for component in TENSORFLOW_COMPONENTS:
        properties = executions[component].properties
        assert properties["storage"] == "localised", component
        assert "TensorFlow's GCS filesystem cannot be pointed at a GCS emulator" in properties["storage_reason"]
        assert properties["uploaded_bytes"] > 0, component
    assert executions["Trainer"].parameters["train_args"] == {"num_steps": PENGUIN_TRAIN_STEPS}
