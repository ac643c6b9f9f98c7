"""penstock: production ML pipelines in the style of TFX."""
__version__ = "0.1.0"
