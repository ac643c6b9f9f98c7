"""``tfx.components.bulk_inferrer.component``."""

from penstock.tfx.components._standard import BulkInferrer

__all__ = ["BulkInferrer"]
