"""``tfx.types.component_spec``: declare a custom component's inputs, outputs and parameters."""

from penstock.tfx._custom import ChannelParameter, ComponentSpec, ExecutionParameter

__all__ = ["ChannelParameter", "ComponentSpec", "ExecutionParameter"]
