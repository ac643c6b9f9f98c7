"""ML Metadata on a real MariaDB server (tests/servers/mariadb.py): wide ints, concurrent writers,
``penstock run --metadata`` / ``PENSTOCK_METADATA``, passwords read from the environment and
kept out of compiled Kubeflow specs and Airflow DAGs."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
import yaml
from click.testing import CliRunner
from ml_metadata.metadata_store import metadata_store

from penstock.cli import cli
from penstock.dsl.standard_artifacts import Examples, Model
from penstock.errors import MetadataError
from penstock.metadata import connection
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.kubeflow.local_executor import load_spec, run_compiled
from tests.conftest import PENSTOCK, PROJECT_ROOT
from tests.orchestrators._compiled_pipelines import write_tiny_pipeline

START_2026 = 1_789_000_000_123  # 2026-09-10 in milliseconds: far beyond a 32-bit int
PASSWORD_VARIABLE = "PENSTOCK_TEST_MLMD_PASSWORD"


def _database(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["sqlite", "mysql"])
def store_config(request, tmp_path):
    if request.param == "sqlite":
        return connection.sqlite(str(tmp_path / "m.sqlite"))
    return request.getfixturevalue("mariadb_server").config(_database("wide"))


# -- wide ints ---------------------------------------------------------------------------------
def test_timestamps_and_wide_ints_round_trip_exactly(store_config, tmp_path):
    store = MetadataStore(store_config)
    before = int(time.time() * 1000)
    store.begin_run("wide", "run-1", ["train"])  # MLMD 1.16 on MySQL failed here: Out of range value
    after = int(time.time() * 1000)
    store.update_run("run-1", end_ms=START_2026 + 1500, error="naïve ✗ 中文")
    execution_id = store.record_execution(
        pipeline_name="wide", run_id="run-1", node_id="train", type_name="penstock.test.Train", state="RUNNING",
        inputs={}, outputs={},
        properties={"start_ms": START_2026, "bytes": 2**40 + 1, "below": -(2**33) - 7, "small": 42,
                    "ratio": 0.25, "whole": 3.0, "flag": True},
    )
    model = Model(str(tmp_path / "model"), custom_properties={"trained_at_ms": START_2026, "rows": 3})
    store.finish_execution(execution_id, pipeline_name="wide", run_id="run-1", node_id="train", state="COMPLETE",
                           outputs={"model": model}, properties={"end_ms": START_2026 + 2500})

    fresh = MetadataStore(store_config)  # nothing cached: everything is read back from the database
    run = fresh.get_run("run-1")
    assert before <= run.start_ms <= after and type(run.start_ms) is int
    assert run.end_ms == START_2026 + 1500 and type(run.end_ms) is int
    assert run.error == "naïve ✗ 中文"
    record = fresh.get_execution(execution_id)
    assert (record.start_ms, record.end_ms, record.duration_s) == (START_2026, START_2026 + 2500, 2.5)
    props = record.properties
    assert (props["bytes"], props["below"], props["small"], props["flag"]) == (2**40 + 1, -(2**33) - 7, 42, 1)
    assert all(type(props[k]) is int for k in ("start_ms", "end_ms", "bytes", "below", "small"))
    assert (props["ratio"], props["whole"]) == (0.25, 3.0) and type(props["whole"]) is float
    stored_model = fresh.get_artifact(model.id)
    assert stored_model.custom_properties == {"trained_at_ms": START_2026, "rows": 3}
    assert type(stored_model.custom_properties["trained_at_ms"]) is int

    # How it is stored: SQLite keeps int_value as before; MySQL's 32-bit column gets a double.
    [raw] = metadata_store.MetadataStore(store_config.to_proto()).get_executions_by_id([execution_id])
    if isinstance(store_config, connection.MysqlConfig):
        assert raw.custom_properties["start_ms"].double_value == START_2026
        assert raw.custom_properties["small"].int_value == 42
    else:
        assert raw.custom_properties["start_ms"].int_value == START_2026


def test_ints_mysql_cannot_keep_exactly_are_refused_naming_the_property(mariadb_server, tmp_path):
    config = mariadb_server.config(_database("refused"))
    store = MetadataStore(config)
    store.begin_run("refused", "run-1", ["n"])
    with pytest.raises(MetadataError) as error:
        store.update_run("run-1", checksum=2**60)
    message = str(error.value)
    assert "'checksum' = 1152921504606846976" in message and config.describe() in message
    assert mariadb_server.password not in message
    # A typed INT property keeps its type, so it cannot move to double_value.
    with pytest.raises(MetadataError, match=r"Examples property 'span' = 1099511627776 does not fit"):
        store.put_artifact(Examples(str(tmp_path / "e"), properties={"span": 2**40}))


# -- concurrency -------------------------------------------------------------------------------
TASKS = 6
ROUNDS = 4


def _concurrent_task(config, barrier, results, index):
    """One task process: open the (new) store, then in every round begin the same run as all the
    others at the same moment and record one execution in it."""
    try:
        barrier.wait(60)
        store = MetadataStore(config)  # a new database: all processes create MLMD's schema at once
        for round_ in range(ROUNDS):
            pipeline_name, run_id = f"pipe{round_ % 2}", f"run-{round_}"
            barrier.wait(60)
            store.begin_run(pipeline_name, run_id, [f"task{i}" for i in range(TASKS)], {})
            execution_id = store.record_execution(
                pipeline_name=pipeline_name, run_id=run_id, node_id=f"task{index}", type_name=f"penstock.test.T{round_}",
                state="RUNNING", inputs={}, outputs={}, properties={},
            )
            store.finish_execution(execution_id, pipeline_name=pipeline_name, run_id=run_id, node_id=f"task{index}",
                                   state="COMPLETE", outputs={"out": Examples(f"/data/{run_id}/{index}")}, properties={})
        results.put((index, "ok"))
    except BaseException as e:
        barrier.abort()  # the others stop waiting for this one
        results.put((index, f"{type(e).__name__}: {e}"))


def test_tasks_of_one_run_begin_it_at_once_from_many_processes(mariadb_server):
    config = mariadb_server.config(_database("concurrent"))
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(TASKS), context.Queue()
    processes = [context.Process(target=_concurrent_task, args=(config, barrier, results, i)) for i in range(TASKS)]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=300) for _ in processes)
    for process in processes:
        process.join(60)
    assert outcomes == dict.fromkeys(range(TASKS), "ok")

    store = MetadataStore(config)
    assert sorted(r.run_id for r in store.list_runs()) == [f"run-{i}" for i in range(ROUNDS)]
    for round_ in range(ROUNDS):
        run = store.get_run(f"run-{round_}")
        assert run.pipeline_name == f"pipe{round_ % 2}" and run.state == "RUNNING"
        assert run.node_ids == [f"task{i}" for i in range(TASKS)]
        executions = store.run_executions(run.run_id)
        assert sorted(e.component_id for e in executions) == [f"task{i}" for i in range(TASKS)]
        assert {e.state for e in executions} == {"COMPLETE"}
        assert {e.type_name for e in executions} == {f"penstock.test.T{round_}"}
        for execution in executions:
            _, outputs = store.execution_artifacts(execution.id)
            assert [a.uri for a in outputs["out"]] == [f"/data/{run.run_id}/{execution.component_id[4:]}"]
    assert len(store.pipeline_executions("pipe0")) == len(store.pipeline_executions("pipe1")) == 2 * TASKS


# -- penstock run --metadata / PENSTOCK_METADATA -----------------------------------------------
TWO_SOURCES = textwrap.dedent('''
    import os
    import time

    from penstock.dsl.function_component import InputArtifact, OutputArtifact, component
    from penstock.dsl.pipeline import Pipeline
    from penstock.dsl.standard_artifacts import Examples, Model


    @component
    def source(examples: OutputArtifact[Examples], tag: str = ""):
        time.sleep(0.5)
        with open(os.path.join(examples.uri, "data"), "w") as f:
            f.write(tag)
        examples.custom_properties["written_ms"] = int(time.time() * 1000)


    @component
    def combine(a: InputArtifact[Examples], b: InputArtifact[Examples], model: OutputArtifact[Model]):
        with open(os.path.join(model.uri, "model"), "w") as f:
            f.write(open(os.path.join(a.uri, "data")).read() + "+" + open(os.path.join(b.uri, "data")).read())


    a, b = source(tag="{name}-a", id="a"), source(tag="{name}-b", id="b")
    pipeline = Pipeline("{name}", [a, b, combine(a=a.outputs.examples, b=b.outputs.examples)])
''')


def test_two_pipelines_run_concurrently_on_one_mysql_store(mariadb_server, tmp_path):
    database = _database("runs")
    # One run names the store with --metadata (password in the URL), the other through
    # PENSTOCK_METADATA with the password in another variable.
    url = mariadb_server.url(database)
    env = {**os.environ, "PYTHONPATH": PROJECT_ROOT, "PENSTOCK_HOME": str(tmp_path / "home")}
    env.pop("PENSTOCK_METADATA", None)
    commands = {
        "first": ([*PENSTOCK, "run", "first.py", "--metadata", url], env),
        "second": ([*PENSTOCK, "run", "second.py"],
                   {**env, "PENSTOCK_METADATA": mariadb_server.url(database, password_env=PASSWORD_VARIABLE),
                    PASSWORD_VARIABLE: mariadb_server.password}),
    }
    for name in commands:
        (tmp_path / f"{name}.py").write_text(TWO_SOURCES.replace("{name}", name))
    started = int(time.time() * 1000)
    processes = {name: subprocess.Popen(command, cwd=tmp_path, env=command_env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                 for name, (command, command_env) in commands.items()}
    output = {name: process.communicate(timeout=300)[0] for name, process in processes.items()}
    for name, process in processes.items():
        assert process.returncode == 0, output[name]
        assert mariadb_server.password not in output[name]
    assert not (tmp_path / "home" / "metadata.sqlite").exists(), "a run wrote to the default SQLite store"

    store = MetadataStore(mariadb_server.config(database))
    assert sorted(r.pipeline_name for r in store.list_runs()) == ["first", "second"]
    for name in commands:
        run = store.latest_run(name)
        assert run.state == "COMPLETE" and started <= run.start_ms <= run.end_ms, (name, run.properties)
        assert f"run {run.run_id} complete" in output[name]
        executions = {e.component_id: e for e in store.run_executions(run.run_id)}
        assert sorted(executions) == ["a", "b", "combine"]
        assert {e.state for e in executions.values()} == {"COMPLETE"}
        _, outputs = store.execution_artifacts(executions["combine"].id)
        [model] = outputs["model"]
        assert open(os.path.join(model.uri, "model")).read() == f"{name}-a+{name}-b"
        _, source_outputs = store.execution_artifacts(executions["a"].id)
        written_ms = source_outputs["examples"][0].custom_properties["written_ms"]
        assert type(written_ms) is int and started <= written_ms <= run.end_ms


# -- passwords ---------------------------------------------------------------------------------
def test_password_is_read_from_the_environment_at_connect_time(mariadb_server, monkeypatch):
    database = _database("pwenv")
    url = mariadb_server.url(database, password_env=PASSWORD_VARIABLE)
    config = connection.parse(url)
    assert config.password == "" and config.password_env == PASSWORD_VARIABLE
    monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)
    with pytest.raises(MetadataError, match=f"environment variable {PASSWORD_VARIABLE}, which is not set"):
        MetadataStore(config)
    monkeypatch.setenv(PASSWORD_VARIABLE, "not-the-password")
    with pytest.raises(MetadataError) as error:
        MetadataStore(config)
    assert str(error.value).startswith(f"cannot open the metadata store {config.describe()}: ")
    assert f"check that it runs, the host and port, the user and the password in ${PASSWORD_VARIABLE}" in str(error.value)
    monkeypatch.setenv(PASSWORD_VARIABLE, mariadb_server.password)
    MetadataStore(config).begin_run("pw", "run-1", ["n"])

    # Through the unix socket: the host and port are not used, so a wrong socket path fails.
    by_socket = f"mysql://penstock@localhost/{database}?password_env={PASSWORD_VARIABLE}&socket="
    assert MetadataStore(connection.parse(by_socket + mariadb_server.socket)).get_run("run-1").pipeline_name == "pw"
    with pytest.raises(MetadataError, match="cannot open the metadata store"):
        MetadataStore(connection.parse(by_socket + mariadb_server.socket + ".missing"))


def test_compiled_kubeflow_spec_holds_no_password_and_its_tasks_take_it_from_the_secret(mariadb_server, tmp_path):
    database = _database("kfp")
    project = tmp_path / "project"
    write_tiny_pipeline(project)
    result = CliRunner().invoke(cli, [
        "compile", "--target", "kubeflow", str(project / "pipeline.py"), "-o", str(tmp_path / "tiny.yaml"),
        "--image", "registry.example/penstock:1", "--pipeline-path", "pipeline.py",
        "--metadata", mariadb_server.url(database), "--metadata-secret", "mlmd-db:db-password",
        "--allow-local-paths",
    ])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "tiny.yaml").read_text()
    assert mariadb_server.password not in text
    spec = load_spec(str(tmp_path / "tiny.yaml"))
    assert spec.root.input_definitions.parameters["metadata"].default_value.string_value == (
        f"mysql://penstock@127.0.0.1:{mariadb_server.port}/{database}?password_env=PENSTOCK_METADATA_PASSWORD"
    )
    [_, platform] = [d for d in yaml.safe_load_all(text) if d]
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert sorted(executors) == ["exec-evaluate", "exec-make-data", "exec-train"]
    for executor in executors.values():
        [secret] = executor["secretAsEnv"]
        assert secret["secretName"] == "mlmd-db"
        assert secret["keyToEnv"] == [{"secretKey": "db-password", "envVar": "PENSTOCK_METADATA_PASSWORD"}]

    # Run the spec's tasks here, with the variable the secret would fill in a pod.
    env = {**os.environ, "PYTHONPATH": PROJECT_ROOT, "PENSTOCK_HOME": str(tmp_path / "home"),
           "PENSTOCK_METADATA_PASSWORD": mariadb_server.password}
    run = run_compiled(str(tmp_path / "tiny.yaml"), parameters={"pipeline_root": str(tmp_path / "root")},
                       cwd=str(project), env=env)
    assert run.succeeded
    store = MetadataStore(mariadb_server.config(database))
    assert store.get_run(run.run_id).state == "COMPLETE"
    assert sorted(e.component_id for e in store.run_executions(run.run_id)) == ["evaluate", "make_data", "train"]


def test_compiled_kubeflow_spec_without_a_secret_names_the_variable_pods_need(tmp_path):
    project = tmp_path / "project"
    write_tiny_pipeline(project)
    result = CliRunner().invoke(cli, [
        "compile", "--target", "kubeflow", str(project / "pipeline.py"), "-o", str(tmp_path / "tiny.yaml"),
        "--image", "registry.example/penstock:1", "--pipeline-path", "pipeline.py", "--allow-local-paths",
        "--metadata", "mysql://ml:s3cret-pw@mysql.kubeflow:3306/mlmd",
    ])
    assert result.exit_code == 0, result.output
    assert "environment variable PENSTOCK_METADATA_PASSWORD, which the spec does not set" in result.output
    text = (tmp_path / "tiny.yaml").read_text()
    assert "s3cret-pw" not in text and "secretAsEnv" not in text
    assert "mysql://ml@mysql.kubeflow:3306/mlmd?password_env=PENSTOCK_METADATA_PASSWORD" in text


def test_airflow_dag_file_and_task_commands_hold_no_password(tmp_path):
    pipeline_file = write_tiny_pipeline(tmp_path / "project")
    dag_file = tmp_path / "dags" / "tiny_dag.py"
    result = CliRunner().invoke(cli, [
        "compile", "--target", "airflow", str(pipeline_file), "-o", str(dag_file),
        "--metadata", "mysql://ml:s3cret-pw@db.internal:3306/mlmd",
    ])
    assert result.exit_code == 0, result.output
    assert "tasks read the metadata password from $PENSTOCK_METADATA_PASSWORD" in result.output
    assert "s3cret-pw" not in dag_file.read_text()

    # The commands Airflow runs (and shows in its UI), built by the DAG file in Airflow's process.
    home = tmp_path / "airflow"
    env = {**os.environ, "PYTHONPATH": PROJECT_ROOT, "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}"}
    proc = subprocess.run(
        [sys.executable, "-c", "import runpy, sys; dag = runpy.run_path(sys.argv[1])['dag']; "
                               "print('\\n'.join(t.bash_command for t in dag.tasks))", str(dag_file)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    commands = proc.stdout.strip().splitlines()
    assert len(commands) == 3
    for command in commands:
        assert "--metadata 'mysql://ml@db.internal:3306/mlmd?password_env=PENSTOCK_METADATA_PASSWORD'" in command
        assert "s3cret-pw" not in command


# -- URLs --------------------------------------------------------------------------------------
def test_mysql_urls_parse_and_print_without_the_password(monkeypatch):
    config = connection.parse("mysql://ml%40corp:p%40ss%3Aword@db.internal:3307/meta")
    assert (config.user, config.password, config.host, config.port, config.database) == \
        ("ml@corp", "p@ss:word", "db.internal", 3307, "meta")
    assert config.to_proto().mysql.password == "p@ss:word"
    assert "p@ss" not in config.describe() and "p@ss" not in repr(config)
    assert connection.task_url(config) == "mysql://ml%40corp@db.internal:3307/meta?password_env=PENSTOCK_METADATA_PASSWORD"

    socket = connection.parse("mysql://ml@localhost/meta?socket=/run/mysqld/mysqld.sock&password_env=DB_PW")
    assert (socket.socket, socket.password_env, socket.port) == ("/run/mysqld/mysqld.sock", "DB_PW", 3306)
    monkeypatch.setenv("DB_PW", "from-env")
    proto = socket.to_proto().mysql
    assert (proto.socket, proto.host, proto.password) == ("/run/mysqld/mysqld.sock", "", "from-env")
    assert connection.parse(socket.url()) == socket
    assert connection.task_url(socket) == socket.url()

    for bad, message in [
        ("mysql://ml@h/db?pasword_env=X", "unknown option pasword_env"),
        ("mysql://ml:pw@h/db?password_env=X", "both a password and password_env"),
        ("mysql://ml:pw@h:3306", "names no database"),
    ]:
        with pytest.raises(MetadataError, match=message) as error:
            connection.parse(bad)
        assert ":pw@" not in str(error.value)
