"""``tfx.dsl.experimental.latest_artifacts_resolver`` (TFX's older name of the strategy)."""

from penstock.tfx._dsl import LatestArtifactStrategy as LatestArtifactsResolver

__all__ = ["LatestArtifactsResolver"]
