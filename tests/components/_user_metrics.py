"""A user-defined metric for the Evaluator tests, referenced as
``{"class_name": "MeanPrediction", "module": "tests.components._user_metrics"}``."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tf_keras


class MeanPrediction(tf_keras.metrics.Mean):
    """The mean predicted probability (ignores labels)."""

    def __init__(self, name: str = "mean_prediction", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_pred, sample_weight=sample_weight)
