"""A census-shaped CSV with hyphenated column names through ExampleGen, StatisticsGen, SchemaGen,
ExampleValidator and Transform, then a corrupted batch that SchemaGen must stop by default, as the
README's pipeline shape runs it. One pipeline, four runs, shared by every test here.

(The Trainer is left out: its skew check cannot call the serving signature on hyphenated raw
names yet, ``KeyError: 'marital_status'``; the blessing is recorded by a stand-in component.)"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from penstock import CsvExampleGen, ExampleValidator, Pipeline, SchemaGen, StatisticsGen, Transform
from penstock.dsl.function_component import InputArtifact, OutputArtifact, component
from penstock.dsl.standard_artifacts import ModelBlessing, Schema, TransformGraph
from penstock.orchestrators.local.runner import LocalRunner
from penstock.storage import schema as schema_io
from tests.census import data

MODULE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "census_utils.py")


@component
def bless(schema: InputArtifact[Schema], transform_graph: InputArtifact[TransformGraph],
          blessing: OutputArtifact[ModelBlessing]):
    """Stands in for Trainer + Evaluator: the model trained on this data is blessed."""
    blessing.set_property("blessed", 1)


def _pipeline(root: str, accept_changes: list[str]) -> Pipeline:
    gen = CsvExampleGen(input_base=os.path.join(root, "data"))
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"], accept_changes=accept_changes)
    validator = ExampleValidator(statistics=stats.outputs["statistics"], schema=schema.outputs["schema"])
    transform = Transform(examples=gen.outputs["examples"], schema=schema.outputs["schema"], module_file=MODULE_FILE)
    transform.add_upstream(validator)
    verdict = bless(schema=schema.outputs["schema"], transform_graph=transform.outputs["transform_graph"])
    return Pipeline("census", [gen, stats, schema, validator, transform, verdict],
                    pipeline_root=os.path.join(root, "root"), metadata=os.path.join(root, "m.sqlite"))


@pytest.fixture(scope="module")
def census(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("census"))
    clean = data.rows()
    data.write(os.path.join(root, "data"), clean)
    runner = LocalRunner()
    first = runner.run(_pipeline(root, []))
    shutil.rmtree(os.path.join(root, "data"))
    data.write(os.path.join(root, "data"), data.corrupt(clean))
    corrupted = runner.run(_pipeline(root, []))
    partly = runner.run(_pipeline(root, ["workclass"]), to_node="SchemaGen")
    accepted = runner.run(_pipeline(root, ["*"]), to_node="SchemaGen")
    return {"first": first, "corrupted": corrupted, "partly": partly, "accepted": accepted}


def test_hyphenated_columns_pass_example_gen_statistics_schema_and_transform(census):
    first = census["first"]
    assert first.succeeded, first.errors
    examples = first.outputs["CsvExampleGen"]["examples"]
    kinds = json.loads(examples.custom_properties["column_types"])
    assert {k: kinds[k] for k in ("education-num", "capital-gain", "marital-status", "income")} == {
        "education-num": "int", "capital-gain": "int", "marital-status": "string", "income": "string"}
    assert sum(json.loads(examples.custom_properties["row_counts"]).values()) == 3000
    schema = schema_io.load(first.outputs["SchemaGen"]["schema"].uri)
    features = {f.name for f in schema.feature}
    assert set(data.COLUMNS) == features
    assert first.outputs["ExampleValidator"]["anomalies"].custom_properties["anomaly_count"] == 0
    import tensorflow_transform as tft

    output = tft.TFTransformOutput(first.outputs["Transform"]["transform_graph"].uri)
    assert {"education_num", "capital_gain", "marital_status", "income"} <= set(output.transformed_feature_spec())
    assert {"education-num", "capital-gain", "marital-status"} <= set(output.raw_feature_spec())


def test_a_corrupted_batch_is_stopped_by_schema_gen_by_default(census):
    run = census["corrupted"]
    assert run.state == "FAILED"
    error = run.errors["SchemaGen"]
    assert "no longer fits the schema of the last blessed model" in error
    for feature in ("income", "workclass", "age"):
        assert f"{feature}: " in error, feature
    assert ">50K." in error and "accept_changes=['age', 'income', 'workclass']" in error
    assert run.outcomes["Transform"].state == "SKIPPED" and run.outcomes["bless"].state == "SKIPPED"
    changes = json.loads(run.outcomes["SchemaGen"].outputs["schema"][0].custom_properties["changes"])
    assert {c["feature"] for c in changes} == {"income", "workclass", "age"}


def test_accepting_changes_is_a_choice_per_feature(census):
    partly = census["partly"]
    assert partly.state == "FAILED"
    assert "workclass: " not in partly.errors["SchemaGen"] and "income: " in partly.errors["SchemaGen"]

    accepted = census["accepted"]
    assert accepted.succeeded, accepted.errors
    schema = schema_io.load(accepted.outputs["SchemaGen"]["schema"].uri)
    domains = {d.name: set(d.value) for d in schema.string_domain}
    features = {f.name: f for f in schema.feature}
    assert "?" in domains[features["workclass"].domain] and ">50K." in domains[features["income"].domain]
    assert features["age"].int_domain.min < 0 or not features["age"].HasField("int_domain")
