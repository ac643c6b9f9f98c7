"""ExampleStatistics: a TFDV DatasetFeatureStatisticsList per split, ``Split-<name>/FeatureStats.pb``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from penstock.dsl.artifact import Artifact
from penstock.errors import InputDataError
from penstock.storage import filesystem, layout

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import statistics_pb2


def path(artifact_uri: str, split: str) -> str:
    return filesystem.join(layout.split_dir(artifact_uri, split), layout.STATISTICS_FILE)


def load(artifact: Artifact, split: str, what: str = "statistics") -> statistics_pb2.DatasetFeatureStatisticsList:
    from google.protobuf.message import DecodeError
    from tensorflow_metadata.proto.v0 import statistics_pb2

    location = path(artifact.uri, split)
    try:
        data = filesystem.read_bytes(location)
    except FileNotFoundError:
        raise InputDataError(
            f"{what}: statistics of split {split!r} do not exist ({location}); splits: {', '.join(artifact.split_names)}"
        ) from None
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    try:
        stats.ParseFromString(data)
    except DecodeError as e:
        raise InputDataError(f"{what}: {location} is not a DatasetFeatureStatisticsList: {e}") from None
    return stats


def save(artifact: Artifact, split: str, stats: statistics_pb2.DatasetFeatureStatisticsList) -> str:
    location = path(artifact.uri, split)
    filesystem.write_bytes(location, stats.SerializeToString())
    return location
