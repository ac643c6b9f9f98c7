"""``tfx.dsl.components.base.base_beam_executor``."""

from penstock.tfx._custom import BaseBeamExecutor

__all__ = ["BaseBeamExecutor"]
