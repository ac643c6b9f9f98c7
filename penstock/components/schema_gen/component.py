"""SchemaGen (a schema inferred from statistics) and ImportSchemaGen (a user's schema file)."""

from __future__ import annotations

from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import ExampleStatistics, Schema
from penstock.runtime.cache_key import file_fingerprint


class SchemaGen(Component):
    """Infers a schema (``<uri>/schema.pbtxt``) from the train split's statistics.

    Besides TFDV's inference (types, presence, shapes, string domains), ``infer_value_bounds``
    records sign and unit-interval bounds seen in training: a numeric feature never negative
    gets ``min: 0``; a float feature within [0, 1] gets ``max: 1`` too. Such bounds catch
    corrupted values (a -1 sentinel, an unscaled batch) without being tight enough to flag
    honest new data.

    **A schema does not follow the data on its own.** Inferring again on every run would accept
    whatever a corrupted batch holds (a new label value, ``?`` categories, negative ages) and
    train on it. So once the pipeline has a blessed model, SchemaGen checks the new statistics
    against the schema of the run that produced that model (``compare_with_blessed``) and keeps
    that schema: every difference is an anomaly that stops the run (the schema artifact, with the
    changes listed, is kept), unless the changed features are named in ``accept_changes``
    (``["*"]`` accepts every change); their part of the schema is then updated to the new data.
    A schema evolves on purpose, in the pipeline file, reviewed like code."""

    SPEC = ComponentSpec(
        inputs={"statistics": InputSpec(ExampleStatistics)},
        outputs={"schema": OutputSpec(Schema)},
        parameters={
            "infer_from_splits": Parameter(list[str], default=["train"],
                                           description="empty: every split except exclude_splits (TFX's way)"),
            "exclude_splits": Parameter(list[str], default=[]),
            "infer_feature_shape": Parameter(bool, default=True),
            "infer_value_bounds": Parameter(bool, default=True),
            "max_string_domain_size": Parameter(int, default=100),
            "compare_with_blessed": Parameter(bool, default=True,
                                              description="check new data against the last blessed model's schema"),
            "accept_changes": Parameter(list[str], default=[],
                                        description="features whose changes become the new schema ('*': all)"),
        },
    )
    EXECUTOR = "penstock.components.schema_gen.executor:run_schema_gen"
    FILE_ACCESS = ("penstock",)
    HEAVY_MODULES = ("tensorflow_data_validation",)
    VERSION = "2"


class ImportSchemaGen(Component):
    """Imports a curated schema file (text-format tensorflow_metadata Schema) as a Schema artifact."""

    SPEC = ComponentSpec(
        outputs={"schema": OutputSpec(Schema)},
        parameters={"schema_file": Parameter(str, description="path to a schema.pbtxt")},
    )
    EXECUTOR = "penstock.components.schema_gen.executor:run_import_schema_gen"
    FILE_ACCESS = ("penstock",)
    HEAVY_MODULES = ("tensorflow_data_validation",)
    VERSION = "1"

    def external_inputs(self) -> dict[str, str]:
        """The schema file's content: editing it (to accept an anomaly, say) must import it again."""
        return {"schema_file": file_fingerprint(self.parameters["schema_file"])}
