"""``tfx.components.trainer.component``."""

from penstock.tfx.components._standard import Trainer

__all__ = ["Trainer"]
