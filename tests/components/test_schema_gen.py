"""SchemaGen infers a schema from train statistics; ImportSchemaGen takes a user's schema file."""

from __future__ import annotations

import os

import pytest

from penstock.components.schema_gen.component import ImportSchemaGen
from penstock.errors import InputDataError
from tests.components._data_fixtures import penguin_schema, run_component, write


def load(schema_artifact):
    from penstock.storage.schema import load as load_schema

    return load_schema(schema_artifact.uri)


def test_schema_inferred_with_types_presence_and_bounds():
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema_artifact = penguin_schema()
    assert os.path.isfile(os.path.join(schema_artifact.uri, "schema.pbtxt"))
    features = {f.name: f for f in load(schema_artifact).feature}
    assert set(features) == {"species", "culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"}
    assert features["species"].type == schema_pb2.INT
    assert features["body_mass_g"].type == schema_pb2.FLOAT
    assert features["body_mass_g"].presence.min_fraction == 1.0
    # never negative in training, within [0, 1]: bounds that catch corrupted values
    assert (features["culmen_length_mm"].float_domain.min, features["culmen_length_mm"].float_domain.max) == (0.0, 1.0)
    assert features["species"].int_domain.min == 0
    assert schema_artifact.custom_properties["num_features"] == 5


def test_import_schema_gen_copies_a_valid_schema(tmp_path):
    source = write(tmp_path / "mine.pbtxt", 'feature { name: "x" type: INT }\n')
    out = run_component(ImportSchemaGen(schema_file=str(source)), tmp_path / "out")["schema"]
    assert [f.name for f in load(out).feature] == ["x"]
    assert out.custom_properties["source"] == str(source)


def test_import_schema_gen_rejects_a_broken_file(tmp_path):
    source = write(tmp_path / "broken.pbtxt", 'feature { name: "x" type: NUMBER }\n')
    with pytest.raises(InputDataError, match=r"broken\.pbtxt: not a valid text-format tensorflow_metadata Schema"):
        run_component(ImportSchemaGen(schema_file=str(source)), tmp_path / "out")
    with pytest.raises(InputDataError, match=r"schema file '.*nope\.pbtxt' does not exist"):
        run_component(ImportSchemaGen(schema_file=str(tmp_path / "nope.pbtxt")), tmp_path / "out2")


def test_editing_the_imported_schema_file_imports_it_again(tmp_path):
    """Updating the schema is how a user accepts an anomaly: a cached import of the old file
    would keep the gate shut."""
    from penstock.dsl.pipeline import Pipeline
    from penstock.orchestrators.local.runner import LocalRunner

    source = write(tmp_path / "mine.pbtxt", 'feature { name: "x" type: INT }\n')

    def run():
        pipeline = Pipeline("schema", [ImportSchemaGen(schema_file=str(source))],
                            pipeline_root=str(tmp_path / "root"), metadata=str(tmp_path / "m.sqlite"))
        result = LocalRunner().run(pipeline)
        assert result.succeeded, result.errors
        return result.outcomes["ImportSchemaGen"], result.outputs["ImportSchemaGen"]["schema"]

    assert run()[0].state == "COMPLETE"
    assert run()[0].state == "CACHED"
    write(source, 'feature { name: "x" type: INT }\nfeature { name: "y" type: FLOAT }\n')
    edited, schema = run()
    assert edited.state == "COMPLETE" and [f.name for f in load(schema).feature] == ["x", "y"]
    assert "input data schema_file: sha256:" in edited.cache_decision
