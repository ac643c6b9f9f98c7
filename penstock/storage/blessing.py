"""ModelBlessing and InfraBlessing: TFX's marker file (``BLESSED``/``NOT_BLESSED``,
``INFRA_BLESSED``/``INFRA_NOT_BLESSED``) plus penstock's ``blessing.json`` and explanation,
written by the Evaluator, the InfraValidator and ``penstock bless`` alike."""

from __future__ import annotations

import json
from typing import Any

from penstock.dsl.artifact import Artifact
from penstock.storage import filesystem, layout


def write(artifact: Artifact, *, blessed: bool, model_id: int | None, explanation: str,
          details: dict[str, Any], infra: bool = False, details_file: str = layout.BLESSING_FILE) -> None:
    """Set the blessing's properties and write its files."""
    artifact.set_property("blessed", int(blessed))
    artifact.set_property("model_id", int(model_id or 0))
    artifact.custom_properties["explanation"] = explanation
    uri = artifact.uri
    filesystem.write_text(filesystem.join(uri, details_file), json.dumps(details, indent=2, sort_keys=True, default=str))
    filesystem.write_text(filesystem.join(uri, layout.EXPLANATION_FILE), explanation + "\n")
    if infra:
        marker = layout.INFRA_BLESSED_FILE if blessed else layout.INFRA_NOT_BLESSED_FILE
    else:
        marker = layout.BLESSED_FILE if blessed else layout.NOT_BLESSED_FILE
    filesystem.write_bytes(filesystem.join(uri, marker), b"")


def is_blessed(artifact: Artifact) -> bool:
    return artifact.get_property("blessed") == 1
