"""``tfx.types.standard_artifacts``: the artifact types standard components pass (penstock's own
classes; type names and layouts are TFX's)."""

from typing import Any

from penstock.dsl.artifact import Artifact
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


class Bytes(ValueArtifact):
    """A bytes value (stored base64 in JSON)."""

    VALUE_TYPE = bytes

    def encode(self, value: Any) -> str:
        import base64
        import json

        return json.dumps(base64.b64encode(bytes(value)).decode())

    def decode(self, text: str) -> bytes:
        import base64
        import json

        return base64.b64decode(json.loads(text))


__all__ = [
    "Artifact", "Boolean", "Bytes", "ExampleAnomalies", "ExampleStatistics", "Examples", "Float", "HyperParameters",
    "InferenceResult", "InfraBlessing", "Integer", "JsonValue", "Model", "ModelBlessing", "ModelEvaluation",
    "ModelRun", "PushedModel", "Schema", "String", "TransformCache", "TransformGraph", "TunerResults",
]
