"""``tfx.dsl.experimental.latest_blessed_model_resolver`` (TFX's older name of the strategy)."""

from penstock.tfx._dsl import LatestBlessedModelStrategy as LatestBlessedModelResolver

__all__ = ["LatestBlessedModelResolver"]
