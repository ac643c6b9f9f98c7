"""ExampleAnomalies: TFDV Anomalies per split, ``Split-<name>/SchemaDiff.pb``, plus a readable
``summary.txt`` for the whole artifact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from penstock.dsl.artifact import Artifact
from penstock.storage import filesystem, layout

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

SUMMARY_FILE = "summary.txt"


def path(artifact_uri: str, split: str) -> str:
    return filesystem.join(layout.split_dir(artifact_uri, split), layout.ANOMALIES_FILE)


def save(artifact: Artifact, split: str, anomalies: anomalies_pb2.Anomalies) -> None:
    filesystem.write_bytes(path(artifact.uri, split), anomalies.SerializeToString())


def load(artifact: Artifact, split: str) -> anomalies_pb2.Anomalies:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    anomalies = anomalies_pb2.Anomalies()
    anomalies.ParseFromString(filesystem.read_bytes(path(artifact.uri, split)))
    return anomalies


def save_summary(artifact: Artifact, summary: str) -> None:
    filesystem.write_text(filesystem.join(artifact.uri, SUMMARY_FILE), summary + "\n")
