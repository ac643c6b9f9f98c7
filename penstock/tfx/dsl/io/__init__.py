"""``tfx.dsl.io``."""

from penstock.tfx.dsl.io import fileio

__all__ = ["fileio"]
