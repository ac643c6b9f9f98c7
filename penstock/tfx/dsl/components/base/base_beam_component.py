"""``tfx.dsl.components.base.base_beam_component``."""

from penstock.tfx._custom import BaseBeamComponent

__all__ = ["BaseBeamComponent"]
