"""Where a Model artifact keeps its SavedModel, shared by the Evaluator, InfraValidator and Pusher.

The Trainer exports to ``<model uri>/Format-Serving`` (TFX's layout); a model imported by hand may
hold the SavedModel directly under its uri.
"""

from __future__ import annotations

import os

from penstock.errors import InputDataError
from penstock.pipelines.artifact import Artifact

SERVING_SUBDIR = "Format-Serving"


def serving_model_dir(model: Artifact, *, role: str = "model") -> str:
    """The SavedModel directory of ``model``; raises InputDataError naming the path if none."""
    for candidate in (os.path.join(model.uri, SERVING_SUBDIR), model.uri):
        if os.path.isfile(os.path.join(candidate, "saved_model.pb")):
            return candidate
    raise InputDataError(
        f"{role} {model.id} has no SavedModel: expected {os.path.join(model.uri, SERVING_SUBDIR, 'saved_model.pb')}"
    )
