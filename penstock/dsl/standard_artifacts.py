"""The standard artifact types passed between penstock's components.

Type names match TFX's, so ML Metadata written by penstock reads naturally to TFX tooling.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from penstock.dsl.artifact import Artifact, PropertyType, registry

_SPAN_VERSION_SPLITS = {
    "span": PropertyType.INT,
    "version": PropertyType.INT,
    "split_names": PropertyType.STRING,
}


class Examples(Artifact):
    """tf.Example records per split: ``<uri>/Split-<name>/*.gz`` (gzip TFRecords)."""

    PROPERTIES = dict(_SPAN_VERSION_SPLITS)


class ExampleStatistics(Artifact):
    """TFDV DatasetFeatureStatisticsList per split: ``<uri>/Split-<name>/FeatureStats.pb``."""

    PROPERTIES = {"span": PropertyType.INT, "split_names": PropertyType.STRING}


class Schema(Artifact):
    """A tensorflow_metadata Schema: ``<uri>/schema.pbtxt``."""


class ExampleAnomalies(Artifact):
    """TFDV Anomalies per split: ``<uri>/Split-<name>/SchemaDiff.pb`` plus a readable summary."""

    PROPERTIES = {"span": PropertyType.INT, "split_names": PropertyType.STRING}


class TransformGraph(Artifact):
    """A tf.Transform output directory (transform_fn/, transformed_metadata/, metadata/)."""


class TransformCache(Artifact):
    """tf.Transform analyzer cache, reused across spans."""


class Model(Artifact):
    """A trained model: ``<uri>/Format-Serving/`` holds the SavedModel."""


class ModelRun(Artifact):
    """Training logs (TensorBoard) of one Trainer run."""


class ModelEvaluation(Artifact):
    """TFMA evaluation output (metrics, plots, validation result)."""


class ModelBlessing(Artifact):
    """The Evaluator's verdict on a model; ``blessed`` is 1 or 0."""

    PROPERTIES = {"blessed": PropertyType.INT, "model_id": PropertyType.INT}


class InfraBlessing(Artifact):
    """The InfraValidator's verdict: the model loads and answers in a real server."""

    PROPERTIES = {"blessed": PropertyType.INT, "model_id": PropertyType.INT}


class PushedModel(Artifact):
    """Where the Pusher put a model (or why it did not)."""

    PROPERTIES = {"pushed": PropertyType.INT, "pushed_version": PropertyType.INT}


class HyperParameters(Artifact):
    """Hyperparameters as JSON: ``<uri>/hyperparameters.json`` (penstock), or the Tuner's
    ``<uri>/best_hyperparameters.txt`` (TFX's name), a KerasTuner ``HyperParameters`` config."""


class TunerResults(Artifact):
    """Every trial of a Tuner run: ``<uri>/tuner_results.json`` (TFX's records format)."""


class InferenceResult(Artifact):
    """BulkInferrer predictions: ``<uri>/prediction_logs-*.gz`` (gzip TFRecords of PredictionLog)."""


class ValueArtifact(Artifact):
    """A primitive value stored in ``<uri>/value`` and mirrored in the ``value`` property."""

    VALUE_TYPE: ClassVar[type] = object

    @property
    def value(self) -> Any:
        from penstock.storage import filesystem, layout

        return self.decode(filesystem.read_text(filesystem.join(self.uri, layout.VALUE_FILE)))

    @value.setter
    def value(self, value: Any) -> None:
        from penstock.storage import filesystem, layout

        encoded = self.encode(value)
        filesystem.write_text(filesystem.join(self.uri, layout.VALUE_FILE), encoded)
        # A short copy in ML Metadata makes `penstock show` readable without opening files.
        if len(encoded) <= 1024:
            self.custom_properties["value"] = encoded

    def encode(self, value: Any) -> str:
        return json.dumps(value)

    def decode(self, text: str) -> Any:
        return json.loads(text)


class Integer(ValueArtifact):
    VALUE_TYPE = int


class Float(ValueArtifact):
    VALUE_TYPE = float


class String(ValueArtifact):
    VALUE_TYPE = str


class Boolean(ValueArtifact):
    VALUE_TYPE = bool


class JsonValue(ValueArtifact):
    VALUE_TYPE = dict


VALUE_ARTIFACT_FOR_TYPE: dict[type, type[ValueArtifact]] = {
    int: Integer,
    float: Float,
    str: String,
    bool: Boolean,
    dict: JsonValue,
    list: JsonValue,
}


def artifact_class(type_name: str) -> type[Artifact]:
    """The artifact class for an ML Metadata type name: a standard one, any class defined in
    this process, else the generic Artifact."""
    return registry().get(type_name, Artifact)


def registered_artifact_types() -> dict[str, type[Artifact]]:
    """The standard artifact types and any other defined in this process."""
    return registry()
