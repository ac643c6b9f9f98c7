"""What the runner records in ML Metadata: contexts, executions, artifacts and events."""

from __future__ import annotations

import os

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from penstock.dsl.function_component import InputArtifact, OutputArtifact, component
from penstock.dsl.pipeline import Pipeline
from penstock.dsl.standard_artifacts import Examples, Model
from penstock.metadata import connection
from penstock.metadata.lineage import Lineage
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.local.runner import LocalRunner


@component
def ingest(examples: OutputArtifact[Examples], span: int = 3):
    examples.set_property("span", span)
    examples.split_names = ["train", "eval"]
    examples.custom_properties["source"] = "unit-test"
    with open(os.path.join(examples.uri, "rows"), "w") as f:
        f.write("1,2,3")


@component
def fit(examples: InputArtifact[Examples], model: OutputArtifact[Model], steps: int = 5) -> float:
    return 0.75


def test_runs_are_recorded_in_real_mlmd(tmp_path):
    metadata = str(tmp_path / "m.sqlite")
    source = ingest()
    trainer = fit(examples=source.outputs.examples, steps=7)
    pipeline = Pipeline("rec", [source, trainer], pipeline_root=str(tmp_path / "root"), metadata=metadata)
    result = LocalRunner().run(pipeline)
    assert result.succeeded

    # Read back with the raw ml-metadata client: penstock's records are plain MLMD.
    raw = metadata_store.MetadataStore(connection.sqlite(metadata).to_proto())
    contexts = {(raw.get_context_types_by_id([c.type_id])[0].name, c.name) for c in raw.get_contexts()}
    assert {("pipeline", "rec"), ("pipeline_run", result.run_id), ("node", "rec.ingest"), ("node", "rec.fit")} <= contexts
    executions = raw.get_executions()
    assert [e.last_known_state for e in executions] == [metadata_store_pb2.Execution.COMPLETE] * 2
    fit_exec = next(e for e in executions if e.custom_properties["component_id"].string_value == "fit")
    assert fit_exec.custom_properties["parameters"].string_value == '{"steps": 7}'
    assert fit_exec.custom_properties["end_ms"].int_value >= fit_exec.custom_properties["start_ms"].int_value
    assert fit_exec.custom_properties["cache_key"].string_value
    [examples] = raw.get_artifacts_by_type("Examples")
    assert examples.state == metadata_store_pb2.Artifact.LIVE
    assert examples.properties["span"].int_value == 3
    assert examples.properties["split_names"].string_value == '["train", "eval"]'
    assert examples.custom_properties["source"].string_value == "unit-test"
    assert open(os.path.join(examples.uri, "rows")).read() == "1,2,3"
    events = raw.get_events_by_artifact_ids([examples.id])
    assert sorted(e.type for e in events) == sorted([metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.INPUT])
    types = {t.name: t for t in raw.get_artifact_types()}
    assert {"Examples", "ExampleStatistics", "Schema", "ExampleAnomalies", "TransformGraph", "Model", "ModelRun",
            "ModelEvaluation", "ModelBlessing", "InfraBlessing", "PushedModel", "HyperParameters",
            "Integer", "Float", "String", "JsonValue"} <= set(types)
    assert types["Examples"].properties["span"] == metadata_store_pb2.INT

    # The primitive return value is a Float value artifact.
    store = MetadataStore(pipeline.metadata)
    value = result.outputs["fit"]["output"]
    assert store.get_artifact(value.id).value == 0.75

    # Lineage runs both ways.
    lineage = Lineage(store)
    model_id = result.outputs["fit"]["model"].id
    assert lineage.upstream(model_id) == {examples.id}
    assert model_id in lineage.downstream(examples.id)


def test_failed_run_records_error_and_no_outputs(tmp_path):
    @component
    def broken(model: OutputArtifact[Model]):
        with open(os.path.join(model.uri, "half"), "w") as f:
            f.write("partial")
        raise RuntimeError("disk full")

    pipeline = Pipeline("fail", [broken()], pipeline_root=str(tmp_path / "root"), metadata=str(tmp_path / "m.sqlite"))
    result = LocalRunner().run(pipeline)
    store = MetadataStore(pipeline.metadata)
    run = store.get_run(result.run_id)
    assert run.state == "FAILED" and "RuntimeError: disk full" in (run.error or "")
    [record] = store.run_executions(result.run_id)
    assert record.state == "FAILED" and "test_store.py" in (record.error or "")
    assert store.execution_artifacts(record.id)[1] == {}
    assert not os.path.exists(os.path.join(pipeline.pipeline_root, ".staging", str(record.id)))


def test_mysql_config_builds_a_connection_proto():
    config = connection.parse("mysql://ml:secret@db.internal:3307/metadata")
    proto = config.to_proto()
    assert (proto.mysql.host, proto.mysql.port, proto.mysql.database, proto.mysql.user) == ("db.internal", 3307, "metadata", "ml")
    assert proto.mysql.password == "secret"
    assert "secret" not in repr(config)


def test_one_artifact_bound_to_two_inputs_is_recorded_under_both(tmp_path):
    @component
    def compare(candidate: InputArtifact[Model], baseline: InputArtifact[Model], verdict: OutputArtifact[Examples]):
        assert candidate.id == baseline.id

    trainer = fit(examples=ingest().outputs.examples)
    same = compare(candidate=trainer.outputs.model, baseline=trainer.outputs.model)
    pipeline = Pipeline("twice", [trainer.inputs["examples"].producer, trainer, same],
                        pipeline_root=str(tmp_path / "root"), metadata=str(tmp_path / "m.sqlite"))
    result = LocalRunner().run(pipeline)
    assert result.succeeded, result.errors
    store = MetadataStore(pipeline.metadata)
    record = next(r for r in store.run_executions(result.run_id) if r.component_id == "compare")
    inputs, _ = store.execution_artifacts(record.id)
    model_id = result.outputs["fit"]["model"].id
    assert [a.id for a in inputs["candidate"]] == [model_id] and [a.id for a in inputs["baseline"]] == [model_id]
    assert LocalRunner().run(pipeline).outcomes["compare"].state == "CACHED"
