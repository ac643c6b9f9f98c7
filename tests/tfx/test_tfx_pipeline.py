"""A pipeline file written TFX's way (tests/tfx/penguin_pipeline.py with penguin_module.py), run
as TFX users run it (``python pipeline.py``) and then with ``penstock run``: one run, many checks.

It exercises what a TFX module relies on: a Tuner whose trials run in two processes, the best
HyperParameters read with ``keras_tuner.HyperParameters.from_config`` in ``run_fn``, a ``run_fn``
opening its own MirroredStrategy and exporting with ``tf.saved_model.save`` and a ``tft_layer``
(skew-checked), a feature named ``body-mass-g``, a TFMA EvalConfig object, a Pusher under
``Cond``, a BulkInferrer, and a Transform on Beam's multi-processing runner (worker processes
import the module file).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

from penstock.metadata import connection
from penstock.metadata.states import ExecutionState
from penstock.metadata.store import MetadataStore
from tests.conftest import PENSTOCK, PROJECT_ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
PIPELINE_FILE = os.path.join(HERE, "penguin_pipeline.py")
DATA = os.path.join(PROJECT_ROOT, "examples", "penguin", "data")
NAME = "penguin_tfx_style"
COMPONENTS = {"CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Tuner", "Trainer",
              "latest_blessed_model_resolver", "Evaluator", "Pusher", "CsvExampleGen_Unlabelled", "BulkInferrer"}


def _copy_renamed(source: str, target: str) -> None:
    """The penguin CSV with ``body_mass_g`` renamed ``body-mass-g`` (census-style names)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(source) as f:
        header, rest = f.read().split("\n", 1)
    with open(target, "w") as f:
        f.write(header.replace("body_mass_g", "body-mass-g") + "\n" + rest)


def _env(root: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}  # as a TFX user's shell
    return {**env, "PENGUIN_TFX_ROOT": root, "PYTHONPATH": PROJECT_ROOT, "PENSTOCK_HOME": os.path.join(root, "home")}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tfx_style"))
    _copy_renamed(os.path.join(DATA, "penguins.csv"), os.path.join(root, "data", "labelled", "penguins.csv"))
    _copy_renamed(os.path.join(DATA, "penguins_unlabelled.csv"),
                  os.path.join(root, "data", "unlabelled", "penguins_unlabelled.csv"))
    done = subprocess.run([sys.executable, PIPELINE_FILE], capture_output=True, text=True, cwd=root,
                          env=_env(root), timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    store = MetadataStore(connection.sqlite(os.path.join(root, "tfx", "metadata", "metadata.db")))
    first = store.latest_run(NAME)
    again = subprocess.run([*PENSTOCK, "run", PIPELINE_FILE], capture_output=True, text=True, cwd=root,
                           env=_env(root), timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    return {"root": root, "store": store, "first": first, "second": store.latest_run(NAME), "log": done.stderr}


def _outputs(run, component_id):
    store = run["store"]
    [record] = [r for r in store.run_executions(run["first"].run_id) if r.component_id == component_id]
    _, outputs = store.execution_artifacts(record.id)
    return record, {k: v[0] for k, v in outputs.items()}


@pytest.mark.slow
def test_every_component_completes_and_penstock_run_records_the_same_pipeline(run):
    store = run["store"]
    first = {r.component_id: r for r in store.run_executions(run["first"].run_id)}
    second = {r.component_id: r for r in store.run_executions(run["second"].run_id)}
    assert run["first"].run_id != run["second"].run_id
    assert set(first) == set(second) == COMPONENTS
    assert {r.state for r in first.values()} == {ExecutionState.COMPLETE}
    # Same pipeline, components, types and parameters: every component is a cache hit of the first run.
    for component_id, record in second.items():
        assert record.type_name == first[component_id].type_name
        if component_id != "latest_blessed_model_resolver":
            assert record.state == ExecutionState.CACHED, (component_id, record.state)
            assert record.properties["cached_from"] == first[component_id].id


@pytest.mark.slow
def test_tuner_runs_trials_in_two_processes_and_records_every_one(run):
    _, outputs = _outputs(run, "Tuner")
    results, best = outputs["tuner_results"], outputs["best_hyperparameters"]
    assert results.custom_properties["parallel_processes"] == 2
    assert results.custom_properties["trial_count"] == results.custom_properties["completed_trials"] == 4
    trials = json.loads(open(os.path.join(results.uri, "trials.json")).read())
    assert len({json.dumps(t["hyperparameters"], sort_keys=True) for t in trials}) == 4  # no trial ran twice
    assert all("val_sparse_categorical_accuracy" in t["metrics"] for t in trials)
    ranked = json.loads(open(os.path.join(results.uri, "tuner_results.json")).read())
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    config = json.loads(open(os.path.join(best.uri, "best_hyperparameters.txt")).read())
    assert {p["config"]["name"] for p in config["space"]} == {"learning_rate", "num_layers"}
    assert config["values"] == {k: ranked[0][k] for k in ("learning_rate", "num_layers")}
    assert json.loads(best.custom_properties["values"]) == config["values"]


@pytest.mark.slow
def test_trainer_gets_the_tuned_config_and_its_tf_saved_model_export_passes_the_skew_check(run):
    _, tuner = _outputs(run, "Tuner")
    best = json.loads(open(os.path.join(tuner["best_hyperparameters"].uri, "best_hyperparameters.txt")).read())
    _, outputs = _outputs(run, "Trainer")
    used = json.loads(open(os.path.join(outputs["model_run"].uri, "hyperparameters_used.json")).read())
    assert used == best["values"]  # HyperParameters.from_config(fn_args.hyperparameters) worked
    model = outputs["model"]
    assert model.custom_properties["strategy"] == "default"  # run_fn opened its own MirroredStrategy
    assert model.custom_properties["skew_check"] == "passed"
    assert model.custom_properties["skew_check_signatures"] == "serving_default,transform_features"
    assert model.custom_properties["skew_check_rows"] > 50
    assert not os.path.exists(os.path.join(model.uri, "Format-Serving", "keras_metadata.pb"))  # no Keras model


@pytest.mark.slow
def test_blessed_model_is_pushed_under_cond_with_the_module_signatures(run):
    import tensorflow as tf

    _, evaluator = _outputs(run, "Evaluator")
    assert evaluator["blessing"].get_property("blessed") == 1
    _, pusher = _outputs(run, "Pusher")
    version_dir = os.path.join(run["root"], "serving_model", NAME, "1")
    assert pusher["pushed_model"].custom_properties["pushed_destination"] == version_dir
    loaded = tf.saved_model.load(version_dir)
    assert set(loaded.signatures) == {"serving_default", "transform_features"}
    example = tf.train.Example()
    for name, value in (("culmen_length_mm", 0.3), ("culmen_depth_mm", 0.5), ("flipper_length_mm", 0.4),
                        ("body-mass-g", 0.3)):
        example.features.feature[name].float_list.value.append(value)
    outputs = loaded.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))
    assert outputs["outputs"].shape == (1, 3)


@pytest.mark.slow
def test_bulk_inferrer_writes_tfx_prediction_logs_equal_to_the_served_model(run):
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    _, outputs = _outputs(run, "BulkInferrer")
    result = outputs["inference_result"]
    rows = json.loads(result.custom_properties["rows"])
    with open(os.path.join(DATA, "penguins_unlabelled.csv")) as f:
        assert sum(rows.values()) == len(f.read().strip().splitlines()) - 1
    files = glob.glob(os.path.join(result.uri, "prediction_logs-*.gz"))
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    assert len(logs) == sum(rows.values())
    model = tf.saved_model.load(os.path.join(run["root"], "serving_model", NAME, "1"))
    examples = [log.predict_log.request.inputs["examples"].string_val[0] for log in logs]
    expected = model.signatures["serving_default"](examples=tf.constant(examples))["outputs"].numpy()
    got = np.concatenate([tf.make_ndarray(log.predict_log.response.outputs["outputs"]) for log in logs])
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert {log.predict_log.request.model_spec.signature_name for log in logs} == {"serving_default"}


@pytest.mark.slow
def test_bulk_inferrer_parquet_with_ids_and_two_models_in_one_pass(run, tmp_path):
    """penstock's own BulkInferrer on the run's artifacts: Parquet, an id carried through, the
    same model twice as an A/B pair; and its blessing gate refuses an unblessed model."""
    import pyarrow.parquet as pq

    from penstock import testing
    from penstock.components.bulk_inferrer import BulkInferrer
    from penstock.dsl.channel import Channel
    from penstock.dsl.standard_artifacts import Examples, Model, ModelBlessing

    _, trainer = _outputs(run, "Trainer")
    _, unlabelled = _outputs(run, "CsvExampleGen_Unlabelled")
    _, evaluator = _outputs(run, "Evaluator")
    inputs = {"examples": [unlabelled["examples"]], "model": [trainer["model"]], "model_challenger": [trainer["model"]],
              "model_blessing": [evaluator["blessing"]]}
    inferrer = BulkInferrer(examples=Channel(Examples), model=Channel(Model), model_blessing=Channel(ModelBlessing),
                            extra_models={"challenger": Channel(Model)}, output_format="parquet",
                            carry_features=["body-mass-g"], example_splits=["train"])
    out = testing.run_executor(inferrer, pipeline_root=str(tmp_path), inputs=inputs)["inference_result"]
    [parquet] = glob.glob(os.path.join(out.uri, "Split-train", "predictions-*.parquet"))
    table = pq.read_table(parquet)
    assert table.column_names == ["body-mass-g", "outputs", "challenger_outputs"]
    assert table.num_rows == json.loads(out.custom_properties["rows"])["train"]
    assert table.column("outputs").to_pylist() == table.column("challenger_outputs").to_pylist()

    spec = {"output_columns_spec": [{"predict_output": {"output_columns": [
        {"output_key": "outputs", "output_column": "species_logits"}]}}]}
    as_examples = BulkInferrer(examples=Channel(Examples), model=Channel(Model), model_blessing=Channel(ModelBlessing),
                               output_format="examples", output_example_spec=spec)
    written = testing.run_executor(as_examples, pipeline_root=str(tmp_path / "examples"),
                                   inputs={k: v for k, v in inputs.items() if k != "model_challenger"})["output_examples"]
    import tensorflow as tf

    records = glob.glob(os.path.join(written.uri, "Split-eval", "examples-*.gz"))
    first = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(records, compression_type="GZIP"))).numpy())
    assert set(first.features.feature) == {"culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body-mass-g",
                                           "species_logits"}
    assert len(first.features.feature["species_logits"].float_list.value) == 3
    assert written.split_names == ["train", "eval"]

    unblessed = evaluator["blessing"].__class__(evaluator["blessing"].uri, properties={"blessed": 0, "model_id": 1})
    refused = testing.run_executor(inferrer, pipeline_root=str(tmp_path / "refused"),
                                   inputs={**inputs, "model_blessing": [unblessed]})["inference_result"]
    assert refused.custom_properties["inferred"] == 0 and "not blessed" in refused.custom_properties["reason"]
