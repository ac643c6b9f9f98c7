"""``tfx.testing``: ``Channel`` for tests (an unbound channel of a type)."""

from penstock.tfx._dsl import Channel

__all__ = ["Channel"]
