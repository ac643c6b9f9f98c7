"""BulkInferrer: batch inference with a (blessed) model over Examples on Beam."""

from penstock.components.bulk_inferrer.component import BulkInferrer

__all__ = ["BulkInferrer"]
