"""Airflow: a DAG made from a pipeline file runs for real under ``airflow dags test`` (SQLite, a
temporary AIRFLOW_HOME) and records in ML Metadata what ``penstock run`` records.

The penguin example's TensorFlow components in a process per task (what each Airflow task runs,
``penstock run-node``) are exercised by tests/orchestrators/test_kubeflow_e2e.py, in pods.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from penstock.metadata.connection import sqlite
from penstock.metadata.store import MetadataStore
from tests.conftest import PENSTOCK, PROJECT_ROOT
from tests.orchestrators._compiled_pipelines import run_snapshot, write_tiny_pipeline

AIRFLOW = os.path.join(os.path.dirname(sys.executable), "airflow")
# Builds DAGs in a fresh interpreter (Airflow's configuration is process-global) and describes
# them as JSON: one per set of create_dag keyword arguments.
DESCRIBE_DAGS = textwrap.dedent("""
    import json, sys
    from penstock.orchestrators.airflow import create_dag
    described = []
    for kwargs in json.loads(sys.argv[2]):
        dag = create_dag(sys.argv[1], **kwargs)
        described.append({
            "dag_id": dag.dag_id,
            "schedule": dag.schedule_interval if isinstance(dag.schedule_interval, (str, type(None))) else str(dag.schedule_interval),
            "tasks": {
                t.task_id: {
                    "upstream": sorted(t.upstream_task_ids),
                    "retries": t.retries,
                    "retry_delay": t.retry_delay.total_seconds(),
                    "exponential": t.retry_exponential_backoff,
                    "command": t.bash_command,
                }
                for t in dag.tasks
            },
        })
    print("DAGS=" + json.dumps(described))
""")


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        "PYTHONPATH": PROJECT_ROOT,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
    }
    (home / "dags").mkdir()
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    return home, env


def _describe(pipeline_file, env, *kwargs_sets):
    proc = subprocess.run([sys.executable, "-c", DESCRIBE_DAGS, str(pipeline_file), json.dumps(kwargs_sets)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.split("DAGS=")[1])


def test_dag_has_one_task_per_component_with_dependencies_retries_and_schedule(tmp_path, airflow_env):
    _, env = airflow_env
    pipeline_file = write_tiny_pipeline(tmp_path)
    dag, overridden = _describe(pipeline_file, env, {"schedule": "@daily", "metadata": f"sqlite:{tmp_path / 'm.sqlite'}"},
                                {"retries": 5, "dag_id": "tiny_nightly"})
    assert dag["dag_id"] == "tiny" and dag["schedule"] == "@daily"
    tasks = dag["tasks"]
    assert tasks["make_data"]["upstream"] == []
    assert tasks["train"]["upstream"] == ["make_data"]
    assert tasks["evaluate"]["upstream"] == ["make_data", "train"]
    # From train's RetryPolicy(max_attempts=3, backoff_seconds=2).
    assert (tasks["train"]["retries"], tasks["train"]["retry_delay"], tasks["train"]["exponential"]) == (2, 2.0, True)
    assert tasks["make_data"]["retries"] == 0
    command = tasks["train"]["command"]
    assert f"-m penstock run-node {pipeline_file} --node train --run-id '{{{{ run_id }}}}'" in command
    assert f"--metadata sqlite:{tmp_path / 'm.sqlite'}" in command

    assert overridden["dag_id"] == "tiny_nightly" and overridden["schedule"] is None  # the pipeline has none
    assert {t["retries"] for t in overridden["tasks"].values()} == {5}


def _dags_test(dag_file_args, dag_id, tmp_path, airflow_env, timeout=600):
    home, env = airflow_env
    compiled = subprocess.run([*PENSTOCK, "compile", "--target", "airflow", *dag_file_args,
                               "-o", str(home / "dags" / f"{dag_id}_dag.py")],
                              env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    test = subprocess.run([AIRFLOW, "dags", "test", dag_id], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path)
    assert test.returncode == 0, test.stderr[-3000:]
    assert "state=success" in test.stdout + test.stderr, (test.stdout + test.stderr)[-3000:]


def test_airflow_dags_test_runs_the_pipeline_into_ml_metadata(tmp_path, airflow_env):
    _, env = airflow_env
    project = tmp_path / "project"
    pipeline_file = write_tiny_pipeline(project)
    reference_home = tmp_path / "reference"
    ran = subprocess.run([*PENSTOCK, "run", str(pipeline_file)], env={**env, "PENSTOCK_HOME": str(reference_home)},
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    reference_run = MetadataStore(sqlite(str(reference_home / "metadata.sqlite"))).latest_run("tiny").run_id

    db = tmp_path / "airflow_run" / "m.sqlite"
    _dags_test([str(pipeline_file), "--metadata", str(db), "--pipeline-root", str(tmp_path / "airflow_run" / "root")],
               "tiny", tmp_path, airflow_env)

    store = MetadataStore(sqlite(str(db)))
    run = store.latest_run("tiny")
    assert run.run_id.startswith("manual__"), run.run_id  # the Airflow DAG run id
    assert run.state == "COMPLETE"
    assert run_snapshot(db, run.run_id) == run_snapshot(reference_home / "metadata.sqlite", reference_run)
