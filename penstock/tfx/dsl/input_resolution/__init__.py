"""``tfx.dsl.input_resolution``."""
