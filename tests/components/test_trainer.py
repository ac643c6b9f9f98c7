"""Trainer: FnArgs as TFX's, the penguin and taxi examples trained for real, the skew check
passing on correct exports and catching a serving signature that skips the transform, and bad
user code reported in user terms."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from penstock.errors import ExecutionError, InputDataError, PipelineDefinitionError, UserCodeError
from tests.components import _example_fixtures as fx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def penguin_transform():
    return fx.penguin_transform()


@pytest.fixture(scope="module")
def penguin_inputs(penguin_transform):
    return {
        "examples": [penguin_transform.outputs["transformed_examples"]],
        "transform_graph": [penguin_transform.outputs["transform_graph"]],
    }


@pytest.fixture(scope="module")
def penguin_trainer():
    return fx.penguin_trainer()


def _serve(model_uri: str, records: list[bytes], signature: str = "serving_default") -> np.ndarray:
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(model_uri, "Format-Serving"))
    outputs = loaded.signatures[signature](examples=tf.constant(records))
    assert len(outputs) == 1
    return next(iter(outputs.values())).numpy()


def test_fn_args_fields(penguin_inputs, tmp_path):
    import tensorflow as tf

    from penstock.components.trainer import FnArgs
    from penstock.components.trainer.executor import build_fn_args
    from penstock.dsl.artifact import ArtifactState
    from penstock.dsl.standard_artifacts import HyperParameters

    hp = HyperParameters(str(tmp_path / "hp"), state=ArtifactState.LIVE)
    os.makedirs(hp.uri)
    (tmp_path / "hp" / "hyperparameters.json").write_text('{"values": {"learning_rate": 0.5}}')
    inputs = dict(penguin_inputs, schema=[fx.penguin_inputs()[1]], hyperparameters=[hp])
    from penstock import testing

    ctx = testing.build_executor_context(
        fx.trainer_component(module_file=fx.PENGUIN_UTILS, train_args={"num_steps": 7}, eval_args={"num_steps": 3},
                             custom_config={"k": 1}),
        pipeline_root=str(tmp_path), inputs=inputs)
    args = build_fn_args(ctx, "default")
    assert isinstance(args, FnArgs)
    examples = penguin_inputs["examples"][0]
    graph = penguin_inputs["transform_graph"][0]
    assert args.train_files == [os.path.join(examples.split_uri("train"), "*")]
    assert args.eval_files == [os.path.join(examples.split_uri("eval"), "*")]
    assert (args.train_steps, args.eval_steps) == (7, 3)
    assert args.transform_output == args.transform_graph_path == graph.uri
    assert args.schema_file == args.schema_path and os.path.isfile(args.schema_path)
    assert args.serving_model_dir == os.path.join(ctx.outputs["model"].uri, "Format-Serving")
    assert args.model_run_dir == ctx.outputs["model_run"].uri and os.path.isdir(args.model_run_dir)
    assert args.working_dir and os.path.isdir(args.working_dir)
    assert args.hyperparameters == {"learning_rate": 0.5}
    assert args.custom_config == {"k": 1}
    assert args.base_model is None
    # data_accessor reads the transformed examples (default schema: the transformed one).
    from tfx_bsl.public import tfxio

    dataset = args.data_accessor.tf_dataset_factory(
        args.train_files, tfxio.TensorFlowDatasetOptions(batch_size=4, label_key="species", num_epochs=1))
    features, label = next(iter(dataset))
    assert set(features) == {"culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"}
    assert label.shape[0] == 4 and label.dtype == tf.int64


def test_penguin_trains_and_serves_raw_examples(penguin_trainer):
    model = penguin_trainer.outputs["model"]
    props = model.custom_properties
    assert props["skew_check"] == "passed"
    assert props["skew_check_rows"] > 50
    assert props["skew_check_max_abs_diff"] <= 1e-6
    assert props["skew_check_signatures"] == "serving_default,serving_raw,transform_features"
    assert os.listdir(penguin_trainer.outputs["model_run"].uri)  # TensorBoard logs

    import tensorflow as tf

    raw = fx.read_records(os.path.join(fx.penguin_inputs()[0].split_uri("eval"), "*"))
    labels = np.array([tf.train.Example.FromString(r).features.feature["species"].int64_list.value[0]
                       for r in raw])
    logits = _serve(model.uri, raw)
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    assert accuracy >= 0.9, accuracy

    # serving_raw: named raw tensors give the same predictions.
    loaded = tf.saved_model.load(os.path.join(model.uri, "Format-Serving"))
    parsed = tf.io.parse_example(raw, {k: tf.io.FixedLenFeature([1], tf.float32) for k in
                                       ("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g")})
    by_name = next(iter(loaded.signatures["serving_raw"](**parsed).values())).numpy()
    np.testing.assert_allclose(by_name, logits, atol=1e-6)


SKEWED_RUN_FN = """
import tensorflow as tf
import tensorflow_transform as tft

import penguin_utils as pu


def run_fn(fn_args):
    out = tft.TFTransformOutput(fn_args.transform_output)
    model = pu.build_keras_model()
    model.fit(pu._input_fn(fn_args.train_files, fn_args, out, 20), steps_per_epoch=5, verbose=0)
    spec = out.raw_feature_spec()
    spec.pop("species")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        # The bug: raw values reach the model without the transform.
        return {"logits": model(tf.io.parse_example(examples, spec))}

    model.save(fn_args.serving_model_dir, save_format="tf",
               signatures={"serving_default": serve.get_concrete_function()})
"""


def test_skew_check_catches_a_signature_that_skips_the_transform(penguin_inputs, tmp_path):
    shutil.copy(fx.PENGUIN_UTILS, tmp_path / "penguin_utils.py")
    module = tmp_path / "skewed.py"
    module.write_text(SKEWED_RUN_FN)
    with pytest.raises(ExecutionError) as info:
        fx.run_trainer(penguin_inputs, str(tmp_path / "out"), module_file=str(module))
    message = str(info.value)
    assert "training/serving skew" in message and "'serving_default'" in message
    assert "rows " in message and "eval rows" in message and "culmen_length_mm=" in message
    # Without the check the same model is accepted: the check is what caught it.
    ctx = fx.run_trainer(penguin_inputs, str(tmp_path / "out2"), module_file=str(module), skew_check=False)
    assert ctx.outputs["model"].custom_properties["skew_check"] == "disabled"


BAD_RUN_FNS = {
    "no_run_fn": ("def train(fn_args):\n    pass\n", UserCodeError, ["no function 'run_fn'", "bad.py"]),
    "syntax_error": ("def run_fn(fn_args)\n    pass\n", UserCodeError, ["syntax error", "bad.py", "line 1"]),
    "raises": ("def run_fn(fn_args):\n    steps = fn_args.train_steps\n    raise RuntimeError('diverged')\n",
               UserCodeError, ["bad.py:3", "run_fn", "RuntimeError: diverged"]),
    "exports_nothing": ("def run_fn(fn_args):\n    return None\n", UserCodeError,
                        ["run_fn (", "bad.py:1", "without exporting a model", "serving_model_dir"]),
}


@pytest.mark.parametrize("case", sorted(BAD_RUN_FNS))
def test_bad_run_fn_is_a_user_code_error(case, penguin_inputs, tmp_path):
    source, error, expected = BAD_RUN_FNS[case]
    module = tmp_path / "bad.py"
    module.write_text(source)
    with pytest.raises(error) as info:
        fx.run_trainer(penguin_inputs, str(tmp_path / "out"), module_file=str(module))
    for fragment in expected:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_missing_split_is_reported(penguin_inputs, tmp_path):
    module = tmp_path / "ok.py"
    module.write_text("def run_fn(fn_args):\n    pass\n")
    with pytest.raises(InputDataError, match="split 'test' not found in eval examples"):
        fx.run_trainer(penguin_inputs, str(tmp_path / "out"), module_file=str(module), eval_args={"splits": ["test"]})


def test_strategies():
    import tensorflow as tf

    from penstock.components.trainer.distribution import resolve_strategy

    strategy, name = resolve_strategy("auto")
    assert name == "default" and strategy is tf.distribute.get_strategy()  # CPU only here
    strategy, name = resolve_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy) and strategy.num_replicas_in_sync >= 1
    with pytest.raises(PipelineDefinitionError, match="not one of"):
        resolve_strategy("horovod")


def test_declaration_checks():
    from penstock.components.trainer import Trainer
    from penstock.dsl.channel import Channel
    from penstock.dsl.standard_artifacts import Examples

    examples = Channel(Examples)
    with pytest.raises(PipelineDefinitionError, match="exactly one of module_file"):
        Trainer(examples=examples)
    with pytest.raises(PipelineDefinitionError, match="unknown keys"):
        Trainer(examples=examples, module_file="m.py", train_args={"num_step": 3})
    with pytest.raises(PipelineDefinitionError, match="strategy"):
        Trainer(examples=examples, module_file="m.py", strategy="gpu")
    trainer = Trainer(examples=examples, run_fn="pkg.mod.run_fn", train_args={"num_steps": 3})
    assert set(trainer.outputs) == {"model", "model_run"}


def test_taxi_trains_better_than_baseline_without_skew():
    _transform, trainer = fx.taxi_trainer()
    props = trainer.outputs["model"].custom_properties
    assert props["skew_check"] == "passed" and props["skew_check_max_abs_diff"] <= 1e-6
    assert props["skew_check_signatures"] == "serving_default,serving_raw,transform_features"

    import tensorflow as tf
    import tf_keras

    def roc_auc_score(labels: np.ndarray, scores: np.ndarray) -> float:
        auc = tf_keras.metrics.AUC(num_thresholds=1000)
        auc.update_state(labels, scores)
        return float(auc.result())

    raw = fx.read_records(os.path.join(fx.taxi_inputs()[0].split_uri("eval"), "*"))
    def value(feature: dict, key: str) -> float:
        return (feature[key].float_list.value or feature[key].int64_list.value or [0.0])[0]

    labels = []
    for record in raw:
        feature = tf.train.Example.FromString(record).features.feature
        labels.append(int(value(feature, "tips") > 0.2 * value(feature, "fare")))
    labels_arr = np.array(labels)
    probability = _serve(trainer.outputs["model"].uri, raw).reshape(-1)
    accuracy = float(((probability > 0.5) == labels_arr).mean())
    majority = max(labels_arr.mean(), 1 - labels_arr.mean())
    auc = roc_auc_score(labels_arr, probability)
    print(f"taxi eval: accuracy {accuracy:.3f} (majority {majority:.3f}), AUC {auc:.3f}")
    assert accuracy > majority and auc > 0.6, (accuracy, majority, auc)


def test_penguin_pipeline_end_to_end(tmp_path, penstock_home):
    """CsvExampleGen -> StatisticsGen -> SchemaGen -> Transform -> Trainer through LocalRunner."""
    from penstock.components.example_gen import CsvExampleGen
    from penstock.components.schema_gen.component import SchemaGen
    from penstock.components.statistics_gen.component import StatisticsGen
    from penstock.components.trainer import Trainer
    from penstock.components.transform.component import Transform
    from penstock.dsl.pipeline import Pipeline
    from penstock.orchestrators.local.runner import LocalRunner

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(fx.PENGUIN_CSV, data / "penguins.csv")
    example_gen = CsvExampleGen(input_base=str(data))
    statistics = StatisticsGen(examples=example_gen.outputs["examples"])
    schema = SchemaGen(statistics=statistics.outputs["statistics"])
    transform = Transform(examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
                          module_file=fx.PENGUIN_UTILS)
    trainer = Trainer(examples=transform.outputs["transformed_examples"],
                      transform_graph=transform.outputs["transform_graph"], schema=schema.outputs["schema"],
                      module_file=fx.PENGUIN_UTILS, train_args={"num_steps": 50}, eval_args={"num_steps": 5})
    pipeline = Pipeline("penguin-e2e", [example_gen, statistics, schema, transform, trainer],
                        pipeline_root=str(tmp_path / "root"), metadata=str(tmp_path / "m.sqlite"))
    result = LocalRunner().run(pipeline)
    assert result.state == "COMPLETE", {k: o.error for k, o in result.outcomes.items() if o.error}
    model = result.outputs["Trainer"]["model"]
    assert model.custom_properties["skew_check"] == "passed"
    assert os.path.isfile(os.path.join(model.uri, "Format-Serving", "saved_model.pb"))
    graph = result.outputs["Transform"]["transform_graph"]
    assert os.path.isdir(os.path.join(graph.uri, "metadata"))
