"""``tfx.dsl.component``."""
