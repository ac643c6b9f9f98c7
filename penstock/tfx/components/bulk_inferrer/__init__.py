"""``tfx.components.bulk_inferrer``."""
