"""The artifact types, for pipeline files and user code: ``from penstock.artifacts import Examples, Model``.

Type names and file layouts match TFX's (see ``penstock.storage.layout``).
"""

from penstock.dsl.artifact import Artifact, ArtifactState, PropertyType
from penstock.dsl.standard_artifacts import (
    Boolean,
    ExampleAnomalies,
    Examples,
    ExampleStatistics,
    Float,
    HyperParameters,
    InferenceResult,
    InfraBlessing,
    Integer,
    JsonValue,
    Model,
    ModelBlessing,
    ModelEvaluation,
    ModelRun,
    PushedModel,
    Schema,
    String,
    TransformCache,
    TransformGraph,
    TunerResults,
    ValueArtifact,
)

__all__ = [
    "Artifact", "ArtifactState", "Boolean", "ExampleAnomalies", "ExampleStatistics", "Examples", "Float",
    "HyperParameters", "InferenceResult", "InfraBlessing", "Integer", "JsonValue", "Model", "ModelBlessing", "ModelEvaluation",
    "ModelRun", "PropertyType", "PushedModel", "Schema", "String", "TransformCache", "TransformGraph", "TunerResults", "ValueArtifact",
]
