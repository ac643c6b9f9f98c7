"""``tfx.dsl.input_resolution.strategies.span_range_strategy``."""

from penstock.tfx._dsl import SpanRangeStrategy

__all__ = ["SpanRangeStrategy"]
