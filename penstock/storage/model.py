"""Model: where a trained model keeps its SavedModel (``<uri>/Format-Serving``, TFX's layout;
a model imported by hand may hold it directly under its uri)."""

from __future__ import annotations

from penstock.dsl.artifact import Artifact
from penstock.errors import InputDataError
from penstock.storage import filesystem, layout

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def has_saved_model(path: str) -> bool:
    return any(filesystem.is_file(filesystem.join(path, name)) for name in SAVED_MODEL_FILES)


def serving_dir(model: Artifact, *, role: str = "model") -> str:
    """The SavedModel folder of ``model``; InputDataError naming the expected path if none."""
    for candidate in (filesystem.join(model.uri, layout.SERVING_MODEL_DIR), model.uri):
        if has_saved_model(candidate):
            return candidate
    expected = filesystem.join(model.uri, layout.SERVING_MODEL_DIR, "saved_model.pb")
    raise InputDataError(f"{role} {model.id} has no SavedModel: expected {expected}")


def serving_dir_for_export(model_uri: str) -> str:
    """Where the Trainer's ``run_fn`` exports the serving SavedModel."""
    return filesystem.join(model_uri, layout.SERVING_MODEL_DIR)
