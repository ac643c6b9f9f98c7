"""``tfx.dsl.components.common``."""
