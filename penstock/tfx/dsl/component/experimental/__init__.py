"""``tfx.dsl.component.experimental``."""
