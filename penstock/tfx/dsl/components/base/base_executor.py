"""``tfx.dsl.components.base.base_executor``."""

from penstock.tfx._custom import BaseExecutor

__all__ = ["BaseExecutor"]
