"""``tfx.orchestration.pipeline``."""

from penstock.tfx._dsl import ExecutionMode, Pipeline

__all__ = ["ExecutionMode", "Pipeline"]
