"""ExampleValidator: anomalies per split, drift, the readable summary and the validation gate."""

from __future__ import annotations

import json
import os

import pytest

from penstock.components.example_validator.component import ExampleValidator
from penstock.dsl.channel import Channel
from penstock.dsl.standard_artifacts import ExampleStatistics, Schema
from penstock.errors import PipelineDefinitionError, ValidationGateError
from tests.components._data_fixtures import penguin_schema, penguin_stats, run_component


def validate(tmp_path, csv_name: str, baseline=None, **parameters):
    inputs = {"statistics": [penguin_stats(csv_name)["statistics"]], "schema": [penguin_schema()]}
    if baseline is not None:
        inputs["baseline_statistics"] = [baseline]
    validator = ExampleValidator(statistics=Channel(ExampleStatistics), schema=Channel(Schema), **parameters)
    return lambda: run_component(validator, tmp_path, inputs=inputs)["anomalies"]




def kinds(anomalies_artifact) -> set[tuple[str, str, str]]:
    return {(a["split"], a["feature"], a["kind"]) for a in json.loads(anomalies_artifact.custom_properties["anomalies"])}


def test_clean_data_has_no_anomalies(tmp_path):
    run = validate(tmp_path, "penguins.csv")
    out = run()
    assert out.custom_properties["anomaly_count"] == 0
    assert "no anomalies" in out.custom_properties["summary"]
    for split in ("train", "eval"):
        assert os.path.getsize(os.path.join(out.split_uri(split), "SchemaDiff.pb")) >= 0


def test_skewed_data_stops_at_the_gate_after_writing_anomalies(tmp_path):
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    run = validate(tmp_path, "penguins_skewed.csv")
    with pytest.raises(ValidationGateError) as caught:
        run()
    message = str(caught.value)
    assert "culmen_length_mm: FLOAT_TYPE_SMALL_FLOAT" in message and "-1<0" in message
    assert 'expected_anomalies={"culmen_length_mm": ["FLOAT_TYPE_SMALL_FLOAT"]}' in message
    assert "ImportSchemaGen" in message and "gate='warn'" in message and "infer_value_bounds" in message
    # the artifact explaining the stop is complete before the gate fires
    [out_dir] = (tmp_path / "ExampleValidator" / "anomalies").iterdir()  # <root>/<component>/<output>/<execution>
    summary = (out_dir / "summary.txt").read_text()
    assert "culmen_length_mm" in summary and "1 blocking" in summary
    found = set()
    for split in ("train", "eval"):
        diff = anomalies_pb2.Anomalies.FromString((out_dir / f"Split-{split}" / "SchemaDiff.pb").read_bytes())
        found.update(diff.anomaly_info)
    assert found == {"culmen_length_mm"}


def test_raw_penguins_with_na_values_stop_at_the_gate(tmp_path):
    run = validate(tmp_path, "penguins_raw.csv")
    with pytest.raises(ValidationGateError) as caught:
        run()
    message = str(caught.value)
    for expected in (
        "species: UNEXPECTED_DATA_TYPE",  # strings where the schema says INT
        "island: SCHEMA_NEW_COLUMN",
        "culmen_length_mm: SCHEMA_MISSING_COLUMN",
        "body_mass_g: FEATURE_TYPE_LOW_FRACTION_PRESENT",  # NA values: missing
    ):
        assert expected in message


def test_warn_mode_records_anomalies_and_passes(tmp_path):
    run = validate(tmp_path, "penguins_skewed.csv", gate="warn")
    out = run()
    assert out.custom_properties["blocking_count"] == 1
    assert {k[1:] for k in kinds(out)} == {("culmen_length_mm", "FLOAT_TYPE_SMALL_FLOAT")}


def test_expected_anomalies_are_accepted(tmp_path):
    run = validate(tmp_path, "penguins_skewed.csv", expected_anomalies={"culmen_length_mm": ["FLOAT_TYPE_SMALL_FLOAT"]})
    out = run()
    assert out.custom_properties["anomaly_count"] == 1
    assert out.custom_properties["blocking_count"] == 0
    assert "expected: accepted" in out.custom_properties["summary"]


def test_drift_between_splits(tmp_path):
    run = validate(tmp_path / "tight", "penguins.csv", gate="warn", drift_thresholds={"body_mass_g": {"jsd": 0.0001}})
    drifted = run()
    assert ("eval", "body_mass_g", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH") in kinds(drifted)
    run = validate(tmp_path / "loose", "penguins.csv", drift_thresholds={"body_mass_g": {"jsd": 0.9}})
    assert run().custom_properties["anomaly_count"] == 0


def test_drift_against_a_baseline_span(tmp_path):
    clean = penguin_stats("penguins.csv")["statistics"]
    run = validate(
        tmp_path, "penguins_skewed.csv", baseline=clean, gate="warn", drift_thresholds={"culmen_length_mm": {"jsd": 0.0001}}
    )
    out = run()
    assert ("train", "culmen_length_mm", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH") in kinds(out)


def test_drift_on_unknown_feature_is_a_definition_error(tmp_path):
    run = validate(tmp_path, "penguins.csv", drift_thresholds={"nope": {"linf": 0.1}})
    with pytest.raises(PipelineDefinitionError, match="drift_thresholds names feature 'nope'"):
        run()


def test_end_to_end_through_the_local_runner(tmp_path):
    """Clean penguins pass; a skewed batch validated against the clean schema stops at the gate,
    and its anomalies artifact is still published."""
    from penstock.components.example_gen import CsvExampleGen
    from penstock.components.schema_gen.component import SchemaGen
    from penstock.components.statistics_gen.component import StatisticsGen
    from penstock.dsl.pipeline import Pipeline
    from penstock.orchestrators.local.runner import LocalRunner
    from tests.components._data_fixtures import PENGUIN_DATA

    clean = CsvExampleGen(input_base=str(PENGUIN_DATA), input_pattern="penguins.csv").with_id("clean_gen")
    clean_stats = StatisticsGen(examples=clean.outputs["examples"]).with_id("clean_stats")
    schema = SchemaGen(statistics=clean_stats.outputs["statistics"])
    check_clean = ExampleValidator(statistics=clean_stats.outputs["statistics"], schema=schema.outputs["schema"]).with_id("check_clean")
    skewed = CsvExampleGen(input_base=str(PENGUIN_DATA), input_pattern="penguins_skewed.csv").with_id("skewed_gen")
    skewed_stats = StatisticsGen(examples=skewed.outputs["examples"], schema=schema.outputs["schema"]).with_id("skewed_stats")
    check_skewed = ExampleValidator(statistics=skewed_stats.outputs["statistics"], schema=schema.outputs["schema"]).with_id("check_skewed")
    pipeline = Pipeline(
        "penguin-data",
        [clean, clean_stats, schema, check_clean, skewed, skewed_stats, check_skewed],
        pipeline_root=str(tmp_path / "root"),
        metadata=str(tmp_path / "metadata.sqlite"),
    )
    result = LocalRunner().run(pipeline)
    assert result.state == "FAILED"
    assert set(result.errors) == {"check_skewed"}
    assert "culmen_length_mm: FLOAT_TYPE_SMALL_FLOAT" in result.errors["check_skewed"]
    assert result.outputs["check_clean"]["anomalies"].custom_properties["anomaly_count"] == 0
    published = result.outputs["check_skewed"]["anomalies"]
    assert "culmen_length_mm" in (open(os.path.join(published.uri, "summary.txt")).read())
    examples = result.outputs["clean_gen"]["examples"]
    assert sum(json.loads(examples.custom_properties["row_counts"]).values()) == 334


def test_tfx_mode_records_anomalies_goes_on_and_says_once_how_to_stop(tmp_path, caplog):
    from penstock.tfx.components import ExampleValidator as TfxExampleValidator

    validator = TfxExampleValidator(statistics=Channel(ExampleStatistics), schema=Channel(Schema))
    inputs = {"statistics": [penguin_stats("penguins_skewed.csv")["statistics"]], "schema": [penguin_schema()]}
    with caplog.at_level("WARNING"):
        out = run_component(validator, tmp_path, inputs=inputs)["anomalies"]
    assert {(feature, kind) for _, feature, kind in kinds(out)} == {("culmen_length_mm", "FLOAT_TYPE_SMALL_FLOAT")}
    assert out.custom_properties["blocking_count"] >= 1  # would have stopped penstock's own validator
    hints = [r.getMessage() for r in caplog.records if "gate='stop'" in r.getMessage()]
    assert len(hints) == 1 and "goes on, as in TFX" in hints[0]
