"""A small real pipeline whose runs the report tests render.

Function components write what penstock's standard components write: TFDV statistics
(FeatureStats.pb), a TFDV schema, TFDV anomalies (SchemaDiff.pb), a TFMA evaluation with a
threshold, a ModelBlessing and a PushedModel. The data is a tiny synthetic penguin-like table
whose eval split carries an island the schema has never seen (a real anomaly).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator

import numpy as np
import pandas as pd

from penstock import _env  # noqa: F401  (TF_USE_LEGACY_KERAS before TFMA imports TensorFlow)
from penstock.dsl.function_component import InputArtifact, OutputArtifact, component
from penstock.dsl.pipeline import Pipeline
from penstock.dsl.standard_artifacts import (
    ExampleAnomalies,
    Examples,
    ExampleStatistics,
    Model,
    ModelBlessing,
    ModelEvaluation,
    PushedModel,
    Schema,
)

SPLITS = ("train", "eval")
PIPELINE_NAME = "report-demo"


def write_csv(path: str, rows: int = 90, seed: int = 7) -> str:
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], size=rows)
    bill = np.where(species == "Gentoo", 47.0, 39.0) + rng.normal(0, 3.5, rows)
    mass = (np.where(species == "Gentoo", 5000, 3700) + rng.normal(0, 300, rows)).round().astype(int)
    island = rng.choice(["Biscoe", "Dream", "Torgersen"], size=rows).astype(object)
    island[::3][::4] = "Atlantis"  # only in rows that land in the eval split: an anomaly there
    bill[5::11] = np.nan  # some missing values
    frame = pd.DataFrame({"species": species, "island": island, "bill_length_mm": bill,
                          "body_mass_g": mass, "label": (species == "Gentoo").astype(int)})
    frame.to_csv(path, index=False)
    return path


def _split_frame(examples: Examples, split: str) -> pd.DataFrame:
    return pd.read_csv(os.path.join(examples.split_uri(split), "data.csv"))


@component
def ingest(examples: OutputArtifact[Examples], csv_path: str):
    frame = pd.read_csv(csv_path)
    is_eval = np.arange(len(frame)) % 3 == 0
    train = frame[~is_eval]
    train = train[train["island"] != "Atlantis"]
    for split, part in (("train", train), ("eval", frame[is_eval])):
        os.makedirs(examples.split_uri(split))
        part.to_csv(os.path.join(examples.split_uri(split), "data.csv"), index=False)
    examples.split_names = list(SPLITS)
    examples.custom_properties["input_files"] = json.dumps([csv_path])


@component
def statistics(examples: InputArtifact[Examples], statistics: OutputArtifact[ExampleStatistics]):
    import tensorflow_data_validation as tfdv

    for split in examples.split_names:
        stats = tfdv.generate_statistics_from_dataframe(_split_frame(examples, split))
        os.makedirs(statistics.split_uri(split))
        with open(os.path.join(statistics.split_uri(split), "FeatureStats.pb"), "wb") as f:
            f.write(stats.SerializeToString())
    statistics.split_names = examples.split_names


def _load_stats(artifact: ExampleStatistics, split: str):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    with open(os.path.join(artifact.split_uri(split), "FeatureStats.pb"), "rb") as f:
        stats.ParseFromString(f.read())
    return stats


@component
def schema_gen(statistics: InputArtifact[ExampleStatistics], schema: OutputArtifact[Schema]):
    import tensorflow_data_validation as tfdv

    tfdv.write_schema_text(tfdv.infer_schema(_load_stats(statistics, "train")), os.path.join(schema.uri, "schema.pbtxt"))


@component
def validate(statistics: InputArtifact[ExampleStatistics], schema: InputArtifact[Schema],
             anomalies: OutputArtifact[ExampleAnomalies]):
    import tensorflow_data_validation as tfdv

    loaded = tfdv.load_schema_text(os.path.join(schema.uri, "schema.pbtxt"))
    counts = {}
    for split in statistics.split_names:
        found = tfdv.validate_statistics(_load_stats(statistics, split), loaded)
        os.makedirs(anomalies.split_uri(split))
        with open(os.path.join(anomalies.split_uri(split), "SchemaDiff.pb"), "wb") as f:
            f.write(found.SerializeToString())
        counts[split] = len(found.anomaly_info)
    anomalies.split_names = statistics.split_names
    anomalies.custom_properties["summary"] = json.dumps({"anomalies_per_split": counts})


@component
def train(examples: InputArtifact[Examples], model: OutputArtifact[Model], fail: bool = False):
    if fail:
        raise ValueError("training diverged: loss is NaN")
    frame = _split_frame(examples, "train").dropna()
    # One-feature logistic model: a midpoint threshold between the class means of bill length.
    midpoint = float(frame.groupby("label")["bill_length_mm"].mean().mean())
    os.makedirs(os.path.join(model.uri, "Format-Serving"))
    with open(os.path.join(model.uri, "Format-Serving", "model.json"), "w") as f:
        json.dump({"midpoint": midpoint, "scale": 1.5}, f)


@component
def evaluate(examples: InputArtifact[Examples], model: InputArtifact[Model],
             evaluation: OutputArtifact[ModelEvaluation], blessing: OutputArtifact[ModelBlessing],
             min_accuracy: float = 0.7, with_baseline: bool = False):
    import tensorflow_model_analysis as tfma

    with open(os.path.join(model.uri, "Format-Serving", "model.json")) as f:
        params = json.load(f)
    frame = _split_frame(examples, "eval").dropna(subset=["bill_length_mm"])
    frame["prediction"] = 1 / (1 + np.exp(-(frame["bill_length_mm"] - params["midpoint"]) / params["scale"]))
    # An older, noisier model: lower AUC and accuracy than the candidate on most slices.
    noisy = frame["bill_length_mm"] - params["midpoint"] + 6 * np.sin(np.arange(len(frame)))
    frame["baseline_prediction"] = 1 / (1 + np.exp(-noisy / params["scale"]))
    frame = frame[["species", "island", "label", "prediction", "baseline_prediction"]]
    auc = tfma.MetricConfig(class_name="AUC")
    model_specs = [tfma.ModelSpec(label_key="label", prediction_key="prediction")]
    if with_baseline:  # the second model on: a blessed baseline and a change threshold, as the Evaluator runs it
        model_specs = [tfma.ModelSpec(name="candidate", label_key="label", prediction_key="prediction"),
                       tfma.ModelSpec(name="baseline", label_key="label", prediction_key="baseline_prediction",
                                      is_baseline=True)]
        auc = tfma.MetricConfig(class_name="AUC", threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 0.5}),
            change_threshold=tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                                         absolute={"value": -1e-10})))
    eval_config = tfma.EvalConfig(
        model_specs=model_specs,
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["island"])],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name="BinaryAccuracy", threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy}))),
            auc,
        ])],
    )
    with _raw_data_with_a_baseline(with_baseline):
        tfma.analyze_raw_data(frame, eval_config, output_path=evaluation.uri)
    result = tfma.load_validation_result(evaluation.uri)
    blessing.set_property("blessed", int(result.validation_ok))
    blessing.set_property("model_id", model.id)
    if result.validation_ok:
        blessing.custom_properties["explanation"] = f"binary_accuracy >= {min_accuracy} on every slice"
    else:
        from tensorflow_model_analysis.slicer import slicer_lib

        failed = [
            f"{f.metric_key.name} = {f.metric_value.double_value.value:.3f} < {min_accuracy} on "
            f"{slicer_lib.stringify_slice_key(slicer_lib.deserialize_slice_key(s.slice_key))}"
            for s in result.metric_validations_per_slice for f in s.failures
        ]
        blessing.custom_properties["explanation"] = "; ".join(failed)


@contextlib.contextmanager
def _raw_data_with_a_baseline(with_baseline: bool) -> Iterator[None]:
    """``analyze_raw_data`` compares the two prediction columns but believes it has no baseline
    model, and drops the baseline ModelSpec: for this one call, TFMA keeps it. Restored after the
    call: this process (a pytest worker) goes on to run the real Evaluator, which a leftover patch
    gave a baseline spec with one model ('loaded model for "candidate" not found' in TFMA)."""
    if not with_baseline:
        yield
        return
    from tensorflow_model_analysis.api import model_eval_lib
    from tensorflow_model_analysis.utils import config_util

    original = model_eval_lib._update_eval_config_with_defaults
    model_eval_lib._update_eval_config_with_defaults = lambda config, _: config_util.update_eval_config_with_defaults(
        config, has_baseline=True)
    try:
        yield
    finally:
        model_eval_lib._update_eval_config_with_defaults = original


@component
def push(model: InputArtifact[Model], blessing: InputArtifact[ModelBlessing],
         pushed_model: OutputArtifact[PushedModel], base_directory: str):
    if not blessing.get_property("blessed"):
        pushed_model.set_property("pushed", 0)
        pushed_model.custom_properties["reason"] = "the model was not blessed"
        return
    version = len(os.listdir(base_directory)) + 1 if os.path.isdir(base_directory) else 1
    destination = os.path.join(base_directory, str(version))
    shutil.copytree(os.path.join(model.uri, "Format-Serving"), destination)
    shutil.copytree(os.path.join(model.uri, "Format-Serving"), os.path.join(pushed_model.uri, "model"))
    pushed_model.set_property("pushed", 1)
    pushed_model.set_property("pushed_version", version)
    pushed_model.custom_properties["pushed_destination"] = destination


def build(root: str, csv_path: str, *, min_accuracy: float = 0.7, fail_training: bool = False,
          with_baseline: bool = False) -> Pipeline:
    examples = ingest(csv_path=csv_path)
    stats = statistics(examples=examples.outputs["examples"])
    schema = schema_gen(statistics=stats.outputs["statistics"])
    anomalies = validate(statistics=stats.outputs["statistics"], schema=schema.outputs["schema"])
    model = train(examples=examples.outputs["examples"], fail=fail_training)
    evaluation = evaluate(examples=examples.outputs["examples"], model=model.outputs["model"], min_accuracy=min_accuracy,
                          with_baseline=with_baseline)
    pusher = push(model=model.outputs["model"], blessing=evaluation.outputs["blessing"],
                  base_directory=os.path.join(root, "serving"))
    return Pipeline(PIPELINE_NAME, [examples, stats, schema, anomalies, model, evaluation, pusher],
                    pipeline_root=os.path.join(root, "pipeline"), metadata=os.path.join(root, "metadata.sqlite"))
