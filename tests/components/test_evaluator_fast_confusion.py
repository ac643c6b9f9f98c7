"""penstock.components.evaluator.fast_confusion: the fast path through TFMA's binary confusion
matrices gives the very matrices TFMA's own code gives, input for input, and leaves every case
it does not know to TFMA (which then fails or succeeds as it would have)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from penstock.components.evaluator import fast_confusion

THRESHOLDS = [0.1, 0.5, 0.7]  # BinaryAccuracy uses [0.5]; AUC-like metrics take the histogram path


def _combiner(**options):
    from tensorflow_model_analysis.metrics import binary_confusion_matrices as bcm

    computations = bcm.binary_confusion_matrices(thresholds=THRESHOLDS, use_histogram=False, **options)
    return next(c.combiner for c in computations if isinstance(getattr(c, "combiner", None),
                                                              bcm._BinaryConfusionMatrixCombiner))


def _inputs(label, prediction, weight=None, features=None):
    from tensorflow_model_analysis.metrics import metric_types

    return metric_types.StandardMetricInputs(labels=label, predictions=prediction, example_weights=weight,
                                             features=features or {})


LABELS = [np.array([1]), np.array([0]), np.array([[1]]), np.array(0), np.array([1.0], dtype=np.float32),
          np.array([0.0]), np.array([-0.0]), np.array([0.3], dtype=np.float32), np.array([2]), np.array([np.nan]),
          np.array([1], dtype=np.uint8), np.array([True]), np.array([b"yes"]), np.array([1, 0])]
PREDICTIONS = [np.array([0.7], dtype=np.float32), np.array([[0.2]], dtype=np.float32), np.array(0.5),
               np.array([np.nan], dtype=np.float32), np.array([0.25, 0.75], dtype=np.float32), np.array([1]),
               {"outputs": np.array([0.9], dtype=np.float32)}]


def _outcome(add_input, combiner, element):
    accumulator = combiner.create_accumulator()
    try:
        return repr(combiner.extract_output(add_input(combiner, accumulator, element)))
    except Exception as e:  # the same failure (class) is expected from both paths
        return f"raises {type(e).__name__}"


@pytest.mark.parametrize("options", [{}, {"fractional_labels": False}, {"model_name": "candidate"},
                                     {"example_weighted": True}, {"example_id_key": "id", "example_ids_count": 3}],
                         ids=["default", "not-fractional", "model-name", "weighted", "example-ids"])
def test_the_fast_path_gives_tfma_s_matrices_for_every_input(options):
    from tensorflow_model_analysis.metrics import binary_confusion_matrices as bcm

    assert fast_confusion.install()
    fast, tfma = bcm._BinaryConfusionMatrixCombiner.add_input, fast_confusion.tfma_add_input
    combiner = _combiner(**options)
    model = options.get("model_name")
    before = dict(fast_confusion.counts)
    for label, prediction in itertools.product(LABELS, PREDICTIONS):
        element = _inputs(label, {model: prediction} if model else prediction,
                          weight=np.array([2.0]) if options.get("example_weighted") else None,
                          features={"id": "example-7"})
        assert _outcome(fast, combiner, element) == _outcome(tfma, combiner, element), (label, prediction)
    # Labels, predictions and their Python types: the simple cases did take the fast path.
    assert fast_confusion.counts["fast"] > before["fast"] or options.get("example_weighted")


def test_the_fast_path_yields_what_tfma_s_extraction_yields():
    from tensorflow_model_analysis.metrics import metric_util

    for label, prediction in itertools.product(LABELS, PREDICTIONS):
        element = _inputs(label, prediction)
        for fractional in (True, False):
            triple = fast_confusion.simple_triple(element, "", fractional)
            if triple is None:
                continue
            (yielded,) = list(metric_util.to_label_prediction_example_weight(
                element, fractional_labels=fractional, flatten=True))
            expected = tuple(metric_util.safe_to_scalar(x) for x in yielded)
            assert repr(triple) == repr(expected) and [type(x) for x in triple] == [type(x) for x in expected]


# -- end to end: the Evaluator's whole output, with TFMA's own code and with the fast path -----------
def _rows(count: int, seed: int) -> list[tuple[float, int, str]]:
    """Rows for the toy model p = sigmoid(10 x): labels that mostly follow x, some that do not."""
    rng = np.random.default_rng(seed)
    xs = rng.normal(0.0, 0.3, count)
    ys = ((xs + rng.normal(0.0, 0.2, count)) > 0).astype(int)
    groups = rng.choice(["a", "b", "c"], count)
    return [(float(x), int(y), str(g)) for x, y, g in zip(xs, ys, groups)]


def _evaluation_files(uri: str) -> dict[str, object]:
    """Every file TFMA and the Evaluator wrote, parsed: metrics as {slice: {metric: value}}, plots
    (the confusion matrices at every threshold) and validations as their protos' text."""
    import os

    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2

    kinds = {"metrics": metrics_for_slice_pb2.MetricsForSlice, "plots": metrics_for_slice_pb2.PlotsForSlice,
             "attributions": metrics_for_slice_pb2.AttributionsForSlice,
             "validations": validation_result_pb2.ValidationResult}
    found: dict[str, object] = {}
    for folder, _, names in os.walk(uri):
        for name in names:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, uri)
            if name.endswith(".tfrecord"):
                kind = kinds[name.split("-")[0].split(".")[0]]
                records = [kind.FromString(r) for r in tf.compat.v1.io.tf_record_iterator(path)]
                if kind is metrics_for_slice_pb2.MetricsForSlice:
                    found[rel] = {str(r.slice_key): {json_format.MessageToJson(kv.key, sort_keys=True):
                                                     json_format.MessageToDict(kv.value) for kv in r.metric_keys_and_values}
                                  for r in records}
                else:
                    found[rel] = sorted(str(r) for r in records)
            elif name.endswith(".json"):
                with open(path) as f:
                    found[rel] = json.load(f)
            else:
                raise AssertionError(f"an output file the test does not know: {rel}")
    return found


def test_the_evaluator_writes_the_same_evaluation_with_and_without_the_fast_path(tmp_path, monkeypatch):
    from penstock.dsl.standard_artifacts import Examples, Model, Schema
    from tests.components import _model_fixtures as mf
    from tests.components.test_evaluator import evaluator

    mf.build_model(str(tmp_path / "model"), slope=10.0)
    inputs = {
        "examples": [mf.live(Examples, mf.write_examples(str(tmp_path / "examples"), _rows(3000, 7)), 3,
                             split_names='["eval"]')],
        "model": [mf.live(Model, str(tmp_path / "model"), 1)],
        "schema": [mf.live(Schema, mf.write_schema(str(tmp_path / "schema")), 4)],
    }
    config = mf.eval_config({"lower_bound": 0.5}, slices=[{}, {"feature_keys": ["group"]},
                                                         {"feature_keys": ["group", "y"]}])
    config["metrics_specs"][0]["metrics"] += [
        {"class_name": name} for name in ("AUC", "Precision", "Recall", "FalsePositives", "TrueNegatives",
                                          "MeanLabel", "MeanPrediction")
    ] + [{"class_name": "ConfusionMatrixPlot"}]

    outputs = {}
    for mode in ("tfma", "fast"):
        if mode == "tfma":
            fast_confusion.uninstall()
            monkeypatch.setenv("PENSTOCK_TFMA_FAST_PATH", "0")
        else:
            monkeypatch.delenv("PENSTOCK_TFMA_FAST_PATH")
        before = dict(fast_confusion.counts)
        evaluation = mf.run_executor(evaluator(config), str(tmp_path / mode), inputs)["evaluation"]
        outputs[mode] = _evaluation_files(evaluation.uri)
        took_fast_path = fast_confusion.counts["fast"] > before["fast"]
        assert took_fast_path == (mode == "fast")
    assert {"metrics-00000-of-00001.tfrecord", "plots-00000-of-00001.tfrecord", "metrics_summary.json"} <= \
        set(outputs["tfma"])
    assert sorted(outputs["fast"]) == sorted(outputs["tfma"]), sorted(outputs["tfma"])
    for name in outputs["tfma"]:
        differences = _differences(outputs["fast"][name], outputs["tfma"][name])
        # MeanLabel and MeanPrediction are sums of floats that TFMA combines in the order Beam's
        # bundles finish: their last bits differ from one run to the next with TFMA alone. They do
        # not come from the confusion matrices; everything that does must be identical.
        assert all("mean_" in d.rpartition(": ")[0] for d in differences), differences
        assert all(abs(float(d.rpartition(": ")[2].split(" != ")[0]) - float(d.split(" != ")[1])) < 1e-9
                   for d in differences), differences


def _differences(a: object, b: object, where: str = "") -> list[str]:
    """Where two parsed outputs differ; NaN equals NaN (an empty slice's precision is NaN both ways)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _differences(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return []
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]
