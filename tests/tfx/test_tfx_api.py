"""penstock.tfx without training anything: the namespace stays light, TFX's protos and arguments
map onto penstock's parameters, Cond skips what it guards, custom components written against
TFX's component API run, and TFX-style pipeline files are found by ``penstock run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from penstock.errors import PipelineDefinitionError
from tests.conftest import PROJECT_ROOT


def test_importing_the_namespace_and_declaring_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from penstock import tfx\n"
        "from penstock.tfx.proto import trainer_pb2\n"
        "from penstock.tfx.orchestration import metadata\n"
        "from penstock.tfx.dsl.components.base import base_executor, executor_spec\n"
        "tfx.components.Trainer, tfx.components.Tuner, tfx.components.BulkInferrer, tfx.dsl.Cond\n"
        "eg = tfx.components.CsvExampleGen(input_base='/tmp')\n"
        "tfx.dsl.Pipeline(pipeline_name='p', pipeline_root='/tmp/r', components=[eg],\n"
        "    metadata_connection_config=metadata.sqlite_metadata_connection_config('/tmp/m.db'))\n"
        "trainer_pb2.TrainArgs(num_steps=3)\n"
        "heavy = ('tensorflow', 'apache_beam', 'ml_metadata', 'keras_tuner', 'tensorflow_model_analysis')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": PROJECT_ROOT}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_proto_messages_have_tfx_field_names_and_json_forms():
    from google.protobuf import json_format, text_format

    from penstock import tfx
    from penstock.tfx.proto import example_gen_pb2, pusher_pb2

    destination = tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(base_directory="/s"))
    assert json_format.MessageToDict(destination) == {"filesystem": {"baseDirectory": "/s"}}
    assert pusher_pb2.PushDestination is tfx.proto.PushDestination
    config = text_format.Parse('splits { name: "train" hash_buckets: 3 } partition_feature_name: "id"',
                               tfx.proto.SplitConfig())
    assert config.WhichOneof("splitting_method_config") == "partition_feature_name"
    assert example_gen_pb2.FORMAT_TF_EXAMPLE == tfx.proto.PayloadFormat.Value("FORMAT_TF_EXAMPLE") == 6
    overrides = tfx.proto.PodOverrides(annotations={"a": "b"}, env=[tfx.proto.EnvVar(name="X", value="1")])
    assert json_format.MessageToDict(overrides)["annotations"] == {"a": "b"}
    assert tfx.proto.RangeConfig(rolling_range=tfx.proto.RollingRange(num_spans=2)).WhichOneof("range") == "rolling_range"
    with pytest.raises(AttributeError):
        tfx.proto.NoSuchMessage  # noqa: B018


def test_tfx_arguments_become_penstock_parameters():
    from penstock import tfx

    eg = tfx.components.CsvExampleGen(
        input_base="/data",
        input_config=tfx.proto.Input(splits=[tfx.proto.Input.Split(name="train", pattern="train/*"),
                                             tfx.proto.Input.Split(name="eval", pattern="eval/*")]),
        range_config=tfx.proto.RangeConfig(static_range=tfx.proto.StaticRange(start_span_number=2, end_span_number=4)))
    assert eg.parameters["input_splits"] == {"train": "train/*", "eval": "eval/*"}
    assert eg.parameters["span_range"] == [2, 4]
    split = tfx.components.CsvExampleGen(input_base="/data", output_config=tfx.proto.Output(
        split_config=tfx.proto.SplitConfig(splits=[tfx.proto.SplitConfig.Split(name="a", hash_buckets=9)])))
    assert split.parameters["output_splits"] == {"a": 9}
    with pytest.raises(PipelineDefinitionError, match="range_config"):
        tfx.components.CsvExampleGen(input_base="/d", range_config=split.outputs["examples"].future()[0].value)

    trainer = tfx.components.Trainer(module_file="m.py", examples=eg.outputs["examples"], hyperparameters=None,
                                     train_args=tfx.proto.TrainArgs(num_steps=100), eval_args=tfx.proto.EvalArgs())
    assert trainer.parameters["train_args"] == {"num_steps": 100} and trainer.parameters["eval_args"] == {}
    assert trainer.parameters["strategy"] == "default" and "hyperparameters" not in trainer.inputs
    validator = tfx.components.ExampleValidator(statistics=tfx.components.StatisticsGen(
        examples=eg.outputs["examples"]).outputs["statistics"], schema=tfx.dsl.Channel(
        type=tfx.types.standard_artifacts.Schema))
    assert validator.parameters["gate"] == "record"  # TFX: anomalies are recorded, the run goes on
    pusher = tfx.components.Pusher(model=trainer.outputs["model"], push_destination=tfx.proto.PushDestination(
        filesystem=tfx.proto.PushDestination.Filesystem(base_directory="/tmp/serving/my_model")))
    assert (pusher.parameters["push_destination"], pusher.parameters["model_name"]) == ("/tmp/serving", "my_model")
    tuner = tfx.components.Tuner(module_file="m.py", examples=eg.outputs["examples"],
                                 tune_args=tfx.proto.TuneArgs(num_parallel_trials=3))
    assert tuner.parameters["num_parallel_trials"] == 3
    with pytest.raises(PipelineDefinitionError, match="trainer_fn"):
        tfx.components.Trainer(trainer_fn="m.trainer_fn", examples=eg.outputs["examples"])


def test_penstock_components_take_proto_configs_and_keep_their_own_defaults():
    from penstock import Evaluator, Trainer
    from penstock.artifacts import Examples, Model
    from penstock.components.evaluator.config import config_pb2
    from penstock.dsl.channel import Channel
    from penstock.tfx import proto

    pb = config_pb2()
    config = pb.EvalConfig(model_specs=[pb.ModelSpec(label_key="y")], metrics_specs=[pb.MetricsSpec(metrics=[
        pb.MetricConfig(class_name="AUC", threshold=pb.MetricThreshold(
            value_threshold=pb.GenericValueThreshold(lower_bound={"value": 0.7})))])])
    evaluator = Evaluator(examples=Channel(Examples), model=Channel(Model), eval_config=config)
    assert evaluator.parameters["eval_config"]["model_specs"] == [{"label_key": "y"}]
    assert evaluator.parameters["bless_without_thresholds"] is False  # penstock's safer default
    trainer = Trainer(module_file="m.py", examples=Channel(Examples), train_args=proto.TrainArgs(num_steps=7),
                      hyperparameters={"units": 4})
    assert trainer.parameters["train_args"] == {"num_steps": 7} and trainer.parameters["hyperparameters"] == {"units": 4}


def test_tuned_hyperparameters_read_as_keras_tuner_config_and_by_name():
    keras_tuner = pytest.importorskip("keras_tuner")
    from penstock.components.trainer.fn_args_utils import HyperParameterConfig

    hp = keras_tuner.HyperParameters()
    hp.Choice("learning_rate", [0.1, 0.01], default=0.01)
    config = HyperParameterConfig(hp.get_config())
    assert keras_tuner.HyperParameters.from_config(config).get("learning_rate") == 0.01
    assert config["learning_rate"] == 0.01 and config.get("missing", 3) == 3 and "space" in config
    with pytest.raises(KeyError, match="tuned values"):
        config["missing"]


def test_tuner_workers_are_bounded_by_cores_and_trials():
    from penstock.components.tuner.executor import plan_workers

    assert plan_workers(None, 6, cores=2) == 2
    assert plan_workers(8, 6, cores=2) == 2
    assert plan_workers(None, 1, cores=4) == 1
    assert plan_workers(1, 6, cores=4) == 1


# -- pipelines run through penstock's runner --------------------------------------------------------
PIPELINE = '''
import os
from penstock import tfx
from penstock.tfx.dsl.components.base import base_executor, executor_spec
from penstock.tfx.types import artifact_utils, standard_artifacts
from penstock.tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter


@tfx.dsl.components.component
def Flag(value: tfx.dsl.components.Parameter[int], flag: tfx.dsl.components.OutputArtifact[standard_artifacts.Integer]):
    flag.value = value


@tfx.dsl.components.component
def Touch(name: tfx.dsl.components.Parameter[str], out: tfx.dsl.components.OutputArtifact[standard_artifacts.String]):
    out.value = name


class CopySpec(ComponentSpec):
    PARAMETERS = {"suffix": ExecutionParameter(type=str), "split_config": ExecutionParameter(type=tfx.proto.SplitConfig)}
    INPUTS = {"source": ChannelParameter(type=standard_artifacts.String)}
    OUTPUTS = {"copy": ChannelParameter(type=standard_artifacts.String)}


class CopyExecutor(base_executor.BaseExecutor):
    def Do(self, input_dict, output_dict, exec_properties):
        source = artifact_utils.get_single_instance(input_dict["source"])
        target = artifact_utils.get_single_instance(output_dict["copy"])
        config = json.loads(exec_properties["split_config"])
        target.value = source.value + exec_properties["suffix"] + config["splits"][0]["name"]
        target.set_string_custom_property("tmp", self._get_tmp_dir())
        target.set_int_custom_property("splits", len(config["splits"]))


class Copy(tfx.types.BaseComponent):
    SPEC_CLASS = CopySpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(CopyExecutor)

    def __init__(self, source, suffix):
        super().__init__(spec=CopySpec(source=source, suffix=suffix, copy=tfx.types.Channel(type=standard_artifacts.String),
                                       split_config=tfx.proto.SplitConfig(splits=[tfx.proto.SplitConfig.Split(name="a")])))


import json


def create_pipeline(root, flag_value):
    flag = Flag(value=flag_value)
    with tfx.dsl.Cond(flag.outputs["flag"].future()[0].value == 1):
        guarded = Touch(name="ran").with_id("guarded")
        copied = Copy(source=guarded.outputs["out"], suffix="+copy").with_id("copied")
    free = Touch(name="free").with_id("free")
    return tfx.dsl.Pipeline(pipeline_name="cond_test", pipeline_root=os.path.join(root, "pipelines"),
                            components=[flag, guarded, copied, free],
                            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                                os.path.join(root, "metadata.db")))


if __name__ == "__main__":
    tfx.orchestration.LocalDagRunner().run(create_pipeline(os.environ["ROOT"], int(os.environ["FLAG"])))
'''


@pytest.fixture(scope="module")
def cond_runs(tmp_path_factory):
    """The same TFX-style file run with the condition true (python FILE) and false (penstock run)."""
    root = tmp_path_factory.mktemp("cond")
    path = root / "cond_pipeline.py"
    path.write_text(PIPELINE)
    env = {**os.environ, "PYTHONPATH": PROJECT_ROOT, "ROOT": str(root)}
    for flag, command in (("1", [sys.executable, str(path)]), ("0", [sys.executable, "-m", "penstock", "run", str(path)])):
        done = subprocess.run(command, capture_output=True, text=True, env={**env, "FLAG": flag}, timeout=300, cwd=root)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    from penstock.metadata import connection
    from penstock.metadata.store import MetadataStore

    store = MetadataStore(connection.sqlite(str(root / "metadata.db")))
    # In the order they ran: two runs started in the same second have run ids that sort by their
    # random suffix; the store numbers its records in creation order.
    runs = sorted(store.list_runs("cond_test"), key=lambda r: r.context_id)
    return store, [{r.component_id: r for r in store.run_executions(run.run_id)} for run in runs], runs, str(root)


def test_cond_runs_guarded_components_only_when_the_predicate_holds(cond_runs):
    from penstock.metadata.states import ExecutionState

    _, (true_run, false_run), runs, _ = cond_runs
    assert [r.state for r in runs] == [ExecutionState.COMPLETE, ExecutionState.COMPLETE]
    assert true_run["guarded"].state == true_run["copied"].state == ExecutionState.COMPLETE
    assert false_run["guarded"].state == ExecutionState.CANCELED
    assert "condition" in false_run["guarded"].properties["cache_decision"]
    assert "copied" not in false_run  # skipped because its upstream was, not recorded as a failure
    assert false_run["free"].state in (ExecutionState.COMPLETE, ExecutionState.CACHED)


def test_custom_component_written_against_tfx_component_api_runs(cond_runs):
    store, (true_run, _), _, _ = cond_runs
    _, outputs = store.execution_artifacts(true_run["copied"].id)
    [copy] = outputs["copy"]
    assert copy.value == "ran+copya"
    assert copy.custom_properties["splits"] == 1 and copy.custom_properties["tmp"]


def test_cond_in_task_per_node_mode_skips_and_succeeds(cond_runs):
    """Kubeflow/Airflow run one task per component (``penstock run-node``): a skipped task and
    the one after it exit 0 and record why; the run completes."""
    from penstock.metadata.states import ExecutionState

    store, _, _, root = cond_runs
    env = {**os.environ, "PYTHONPATH": PROJECT_ROOT, "ROOT": root, "FLAG": "0"}
    for node in ("Flag", "guarded", "copied", "free"):
        done = subprocess.run([sys.executable, "-m", "penstock", "run-node", os.path.join(root, "cond_pipeline.py"),
                               "--node", node, "--run-id", "task-run"], capture_output=True, text=True, env=env,
                              timeout=300, cwd=root)
        assert done.returncode == 0, (node, done.stdout[-2000:] + done.stderr[-2000:])
    records = {r.component_id: r for r in store.run_executions("task-run")}
    assert records["guarded"].state == records["copied"].state == ExecutionState.CANCELED
    assert "upstream guarded skipped" in records["copied"].properties["cache_decision"]
    assert store.get_run("task-run").state == ExecutionState.COMPLETE


def test_loader_runs_tfx_style_files_as_scripts_only(tmp_path):
    from penstock.runtime.loader import runs_as_script

    script = tmp_path / "a.py"
    script.write_text("def create_pipeline(name, root):\n    pass\nif __name__ == '__main__':\n    pass\n")
    module = tmp_path / "b.py"
    module.write_text("def create_pipeline(name='x'):\n    pass\nif __name__ == '__main__':\n    pass\n")
    plain = tmp_path / "c.py"
    plain.write_text("pipeline = None\n")
    assert runs_as_script(str(script)) and not runs_as_script(str(module)) and not runs_as_script(str(plain))


def test_example_gen_artifact_view_gives_tfx_split_names():
    from penstock.dsl.standard_artifacts import Examples
    from penstock.tfx._artifacts import view
    from penstock.tfx.types import artifact_utils

    examples = Examples("/x", properties={"span": 3})
    tfx_view = view(examples)
    tfx_view.split_names = artifact_utils.encode_split_names(["train", "eval"])
    assert examples.split_names == ["train", "eval"] and json.loads(tfx_view.split_names) == ["train", "eval"]
    assert artifact_utils.decode_split_names(tfx_view.split_names) == ["train", "eval"]
    assert tfx_view.span == 3 and tfx_view.get_int_custom_property("absent") == 0
    assert artifact_utils.get_split_uri([tfx_view], "eval") == "/x/Split-eval"


def test_kubeflow_v2_runner_writes_penstock_kfp_spec(tmp_path):
    script = tmp_path / "kfp_pipeline.py"
    script.write_text(
        "import os\n"
        "from penstock import tfx\n"
        "from penstock.tfx.types import standard_artifacts\n"
        "@tfx.dsl.components.component\n"
        "def Hello(out: tfx.dsl.components.OutputArtifact[standard_artifacts.String]):\n"
        "    out.value = 'hi'\n"
        "if __name__ == '__main__':\n"
        "    pipeline = tfx.dsl.Pipeline(pipeline_name='kfp-test', pipeline_root='gs://bucket/root', components=[Hello()])\n"
        "    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(\n"
        "        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image='img:1'),\n"
        "        output_dir=os.path.dirname(os.path.abspath(__file__)))\n"
        "    runner.run(pipeline)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": PROJECT_ROOT}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    spec = (tmp_path / "kfp-test_pipeline.yaml").read_text()
    assert "img:1" in spec and "run-node" in spec and "Hello" in spec
