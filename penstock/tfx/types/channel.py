"""``tfx.types.channel``."""

from penstock.dsl.channel import Channel as BaseChannel
from penstock.tfx._dsl import Channel

__all__ = ["BaseChannel", "Channel"]
