"""``tfx.dsl.components.common.importer``."""

from penstock.tfx._dsl import Importer

__all__ = ["Importer"]
