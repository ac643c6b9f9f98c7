"""``tfx.dsl.components.base.executor_spec``."""

from penstock.tfx._custom import BeamExecutorSpec, ExecutorClassSpec

__all__ = ["BeamExecutorSpec", "ExecutorClassSpec"]
