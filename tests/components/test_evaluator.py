"""Evaluator on real TFMA: hand-checked per-slice metrics, thresholds both ways, change thresholds
against a baseline, the explanation, and bad EvalConfigs caught before any TFMA work."""

from __future__ import annotations

import json
import math
import os

import pytest

from penstock.dsl.channel import Channel
from penstock.dsl.standard_artifacts import Examples, Model, Schema
from penstock.errors import InputDataError, PipelineDefinitionError, UserCodeError
from tests.components import _model_fixtures as mf


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    mf.build_model(str(root / "good"), slope=10.0)
    mf.build_model(str(root / "bad"), slope=-10.0)
    return {
        "root": root,
        "good": mf.live(Model, str(root / "good"), 1),
        "bad": mf.live(Model, str(root / "bad"), 2),
        "examples": mf.live(Examples, mf.write_examples(str(root / "examples")), 3, split_names='["eval"]'),
        "schema": mf.live(Schema, mf.write_schema(str(root / "schema")), 4),
    }


def evaluator(eval_config, *, baseline=False, schema=True, **params):
    from penstock.components.evaluator.component import Evaluator

    return Evaluator(
        examples=Channel(Examples), model=Channel(Model), eval_config=eval_config,
        baseline_model=Channel(Model) if baseline else None, schema=Channel(Schema) if schema else None, **params,
    )


def evaluate(world, tmp_path, eval_config, model="good", baseline=None, schema=True, **params):
    component = evaluator(eval_config, baseline=baseline is not None, schema=schema, **params)
    inputs = {"examples": [world["examples"]], "model": [world[model]]}
    if baseline is not None:
        inputs["baseline_model"] = [world[baseline]]
    if schema:
        inputs["schema"] = [world["schema"]]
    outputs = mf.run_executor(component, str(tmp_path), inputs)
    return outputs["evaluation"], outputs["blessing"]


def summary(evaluation):
    with open(os.path.join(evaluation.uri, "metrics_summary.json")) as f:
        return json.load(f)


def test_per_slice_metrics_match_a_hand_count_and_passing_thresholds_bless(world, tmp_path):
    config = mf.eval_config(
        {"lower_bound": 0.5},
        slices=[{}, {"feature_keys": ["group"]}, {"feature_keys": ["group", "y"]}],
    )
    config["metrics_specs"][0]["metrics"] += [
        {"class_name": "MeanPrediction", "module": "tests.components._user_metrics"},  # a user metric
        # TFMA's fairness metrics (the fairness-indicators package), per slice: the bias checks
        {"class_name": "FairnessIndicators", "module": "fairness_indicators.fairness_indicators_metrics",
         "config": '{"thresholds": [0.5]}'},
    ]
    evaluation, blessing = evaluate(world, tmp_path, config)
    metrics = summary(evaluation)["candidate"]
    assert metrics["Overall"]["binary_accuracy"] == pytest.approx(mf.GOOD_ACCURACY["overall"])
    assert metrics["group=a"]["binary_accuracy"] == pytest.approx(mf.GOOD_ACCURACY["a"])
    assert metrics["group=b"]["binary_accuracy"] == pytest.approx(mf.GOOD_ACCURACY["b"])
    assert metrics["group=a"]["example_count"] == 4
    # The feature cross: group a with label 1 is rows x=1, 2, -2; the model is right on 2 of 3.
    assert metrics["group=a, y=1"]["binary_accuracy"] == pytest.approx(2 / 3)
    assert metrics["group=b, y=0"]["binary_accuracy"] == pytest.approx(1 / 2)
    expected_mean = sum(1 / (1 + math.exp(-10 * x)) for x, _, _ in mf.EVAL_ROWS) / len(mf.EVAL_ROWS)
    assert metrics["Overall"]["mean_prediction"] == pytest.approx(expected_mean, abs=1e-6)
    # Per group, by hand: a has 2 of 3 positives found and no false positive; b 1 of 2, and 1 of 2.
    fairness = "fairness_indicators_metrics/{}@0.5"
    assert metrics["group=a"][fairness.format("true_positive_rate")] == pytest.approx(2 / 3)
    assert metrics["group=a"][fairness.format("false_positive_rate")] == pytest.approx(0.0)
    assert metrics["group=b"][fairness.format("true_positive_rate")] == pytest.approx(1 / 2)
    assert metrics["group=b"][fairness.format("false_positive_rate")] == pytest.approx(1 / 2)

    assert blessing.get_property("blessed") == 1
    assert blessing.get_property("model_id") == 1
    assert blessing.custom_properties["explanation"].startswith("blessed: every threshold passed")
    assert os.path.exists(os.path.join(blessing.uri, "BLESSED"))
    assert json.load(open(os.path.join(blessing.uri, "blessing.json")))["blessed"] is True
    assert evaluation.custom_properties["validation_ok"] == 1


def test_failed_lower_and_upper_bounds_name_metric_slice_and_margin(world, tmp_path):
    _, blessing = evaluate(world, tmp_path, mf.eval_config({"lower_bound": 0.6, "upper_bound": 0.7}))
    assert blessing.get_property("blessed") == 0
    explanation = blessing.custom_properties["explanation"]
    # Overall 0.625 passes; group=a 0.75 is too high, group=b 0.5 too low.
    assert "binary_accuracy on slice group=b: 0.5 is below the lower bound 0.6 (short by 0.1)" in explanation
    assert "binary_accuracy on slice group=a: 0.75 is above the upper bound 0.7 (over by 0.05)" in explanation
    assert "slice Overall" not in explanation
    assert explanation.startswith("not blessed: 2 threshold check(s) failed")
    assert open(os.path.join(blessing.uri, "explanation.txt")).read().strip() == explanation
    assert os.path.exists(os.path.join(blessing.uri, "NOT_BLESSED"))


def test_change_threshold_against_a_baseline_in_both_directions(world, tmp_path):
    no_worse = {"direction": "HIGHER_IS_BETTER", "absolute": -1e-10}
    _, blessing = evaluate(world, tmp_path, mf.eval_config(change=no_worse), model="bad", baseline="good")
    assert blessing.get_property("blessed") == 0
    assert blessing.custom_properties["baseline_model_id"] == 1
    explanation = blessing.custom_properties["explanation"]
    assert "binary_accuracy on slice Overall: changed by -0.25 vs the baseline" in explanation
    assert "binary_accuracy on slice group=a: changed by -0.5 vs the baseline" in explanation
    assert "group=b" not in explanation  # both models score 0.5 there: no change

    _, blessing = evaluate(world, tmp_path, mf.eval_config(change=no_worse), model="good", baseline="bad")
    assert blessing.get_property("blessed") == 1
    assert "against baseline model 2" in blessing.custom_properties["explanation"]


def test_without_a_baseline_change_thresholds_are_skipped_and_the_blessing_says_so(world, tmp_path):
    change = {"direction": "HIGHER_IS_BETTER", "absolute": 0.0}
    _, blessing = evaluate(world, tmp_path, mf.eval_config(change=change), model="bad", schema=False)
    assert blessing.get_property("blessed") == 1
    assert "change thresholds skipped" in blessing.custom_properties["explanation"]


def test_no_thresholds_means_not_blessed_unless_explicitly_allowed(world, tmp_path):
    _, blessing = evaluate(world, tmp_path, mf.eval_config())
    assert blessing.get_property("blessed") == 0
    assert "no thresholds" in blessing.custom_properties["explanation"]
    _, blessing = evaluate(world, tmp_path, mf.eval_config(), bless_without_thresholds=True)
    assert blessing.get_property("blessed") == 1


# -- bad input: found at declaration, or at executor start before TFMA runs ----------------------
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_specs": [{"label_key": "y"}], "metrics_specs": [{"metrics": [{"class_name": "AUC", "threshold": {
            "value_threshold": {"direction": "HIGHER_IS_BETTER"}}}]}]}, "has no field named \"direction\""),
        ({"model_specs": [{"label_key": "y"}], "metrics_specs": [{"metrics": [{"class_name": "AUC", "threshold": {
            "change_threshold": {"absolute": 0.1}}}]}]}, "needs a direction"),
        ({"model_specs": [{"label_key": "y"}], "metrics_specs": [{"metrics": [{"class_name": "AUC", "threshold": {
            "value_threshold": {"lower_bound": {"value": 0.5}}}}]}]}, "lower_bound"),
        ({"model_specs": [{"label_key": "y"}], "metrics_specs": [{"metrics": [{"class_name": "CalibrationPlot",
            "threshold": {"value_threshold": {"lower_bound": 0.5}}}]}]}, "is a plot"),
        ({"model_spec": [{"label_key": "y"}]}, "has no field named \"model_spec\""),
        ({"metrics_specs": [{"metrics": [{"class_name": "AUC"}]}]}, "exactly one"),
        ("model_specs { label_key: 'y' } metrics_specs { metrics { class_name: 'AUC' threshold { value_threshold { lower_bound { value: 2 } upper_bound { value: 1 } } } } }", "above upper_bound"),
    ],
)
def test_bad_eval_configs_fail_at_declaration(config, message):
    with pytest.raises(PipelineDefinitionError, match="Evaluator: eval_config") as info:
        evaluator(config)
    assert message in str(info.value)


def test_text_format_eval_config_is_accepted():
    component = evaluator("model_specs { label_key: 'y' } metrics_specs { metrics { class_name: 'AUC' } }")
    assert component.parameters["eval_config"].startswith("model_specs")


def test_missing_label_slice_feature_or_metric_fail_before_tfma(world, tmp_path):
    config = mf.eval_config({"lower_bound": 0.5})
    config["model_specs"][0]["label_key"] = "label"
    with pytest.raises(InputDataError, match=r"model_specs.label_key names feature 'label'.*schema"):
        evaluate(world, tmp_path, config)

    config = mf.eval_config({"lower_bound": 0.5}, slices=[{"feature_keys": ["grup"]}])
    with pytest.raises(InputDataError, match=r"slicing_specs\[0\] names feature 'grup'.*did you mean 'group'"):
        evaluate(world, tmp_path, config, schema=False)  # without a schema: checked against the examples

    config = mf.eval_config()
    config["metrics_specs"][0]["metrics"].append({"class_name": "BinaryAcuracy"})
    with pytest.raises(PipelineDefinitionError, match="'BinaryAcuracy' does not exist.*did you mean BinaryAccuracy"):
        evaluate(world, tmp_path, config)

    config = mf.eval_config()
    config["metrics_specs"][0]["metrics"].append({"class_name": "Mine", "module": "no_such_module_here"})
    with pytest.raises(UserCodeError, match="metric 'Mine': module 'no_such_module_here' cannot be imported"):
        evaluate(world, tmp_path, config)

    with pytest.raises(InputDataError, match=r"split 'test' not found in eval examples .*\(splits: eval\)"):
        evaluate(world, tmp_path, mf.eval_config(), example_splits=["test"])


def test_the_blessing_decision_without_tfma():
    from penstock.components.evaluator.executor import decide

    common = {"failures": [], "validation_ok": True, "baseline_id": None, "bless_without_thresholds": False}
    assert decide(has_thresholds=False, checked=0, **common) == (
        False, "not blessed: the eval_config has no thresholds, so nothing shows the model is good enough "
        "(add value/change thresholds, or set bless_without_thresholds=True to bless anyway)")
    assert decide(has_thresholds=False, checked=0, **{**common, "bless_without_thresholds": True})[0] is True
    # only change thresholds and no baseline yet: the first model is blessed
    assert decide(has_thresholds=True, checked=0, **common) == (True, "blessed: no threshold left to check without a baseline")
    assert decide(has_thresholds=True, checked=2, **{**common, "baseline_id": 7}) == (
        True, "blessed: every threshold passed against baseline model 7")
    assert decide(has_thresholds=True, checked=2, **{**common, "failures": ["a", "b"]}) == (
        False, "not blessed: 2 threshold check(s) failed")
    # TFMA's own verdict counts even when no failure could be explained
    assert decide(has_thresholds=True, checked=1, **{**common, "validation_ok": False}) == (
        False, "not blessed: some threshold check(s) failed")
