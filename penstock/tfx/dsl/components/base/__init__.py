"""``tfx.dsl.components.base``."""
