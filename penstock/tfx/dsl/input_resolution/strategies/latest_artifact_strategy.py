"""``tfx.dsl.input_resolution.strategies.latest_artifact_strategy``."""

from penstock.tfx._dsl import LatestArtifactStrategy

__all__ = ["LatestArtifactStrategy"]
