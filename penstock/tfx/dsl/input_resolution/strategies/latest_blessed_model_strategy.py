"""``tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy``."""

from penstock.tfx._dsl import LatestBlessedModelStrategy

__all__ = ["LatestBlessedModelStrategy"]
