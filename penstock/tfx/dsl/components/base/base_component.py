"""``tfx.dsl.components.base.base_component``."""

from penstock.tfx._custom import BaseComponent

__all__ = ["BaseComponent"]
