"""HyperParameters artifacts: penstock's ``hyperparameters.json`` (a flat dict) or TFX's
``best_hyperparameters.txt`` (a KerasTuner ``HyperParameters.get_config()``: ``space`` and
``values``), whichever the artifact holds; a folder holding a single other file (a TFX Importer
of a hand-written file) is read as that file."""

from __future__ import annotations

import json
from typing import Any

from penstock.dsl.artifact import Artifact
from penstock.errors import InputDataError
from penstock.storage import filesystem, layout


def load(artifact: Artifact, component_id: str) -> dict[str, Any]:
    """The JSON object the artifact holds; InputDataError naming the file when unreadable."""
    candidates = [filesystem.join(artifact.uri, name)
                  for name in (layout.HYPERPARAMETERS_FILE, layout.BEST_HYPERPARAMETERS_FILE)]
    path = next((c for c in candidates if filesystem.is_file(c)), None)
    if path is None:
        names = [n for n in filesystem.list_names(artifact.uri) if not n.startswith(".")]
        if len(names) != 1:
            raise InputDataError(
                f"{component_id}: HyperParameters {artifact.uri} holds no {layout.HYPERPARAMETERS_FILE} or "
                f"{layout.BEST_HYPERPARAMETERS_FILE} (files: {names or 'none'})"
            )
        path = filesystem.join(artifact.uri, names[0])
    try:
        loaded = json.loads(filesystem.read_text(path))
    except (OSError, ValueError) as e:
        raise InputDataError(f"{component_id}: cannot read hyperparameters {path}: {e}") from None
    if not isinstance(loaded, dict):
        raise InputDataError(f"{component_id}: hyperparameters {path} hold {type(loaded).__name__}, not a JSON object")
    return loaded


def save_best(artifact: Artifact, config: dict[str, Any]) -> str:
    """Write a KerasTuner config as the Tuner's best hyperparameters (TFX's file name)."""
    path = filesystem.join(artifact.uri, layout.BEST_HYPERPARAMETERS_FILE)
    filesystem.write_text(path, json.dumps(config))
    return path
