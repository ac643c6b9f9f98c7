"""``tfx.types.artifact_utils``: what TFX executors call to read their artifact lists."""

from __future__ import annotations

import json
import os
from typing import Any

from penstock.errors import ExecutionError


def get_single_instance(artifact_list: list[Any]) -> Any:
    if len(artifact_list) != 1:
        raise ExecutionError("executor", f"expected exactly one artifact, got {len(artifact_list)}: {artifact_list}")
    return artifact_list[0]


def get_single_uri(artifact_list: list[Any]) -> str:
    return str(get_single_instance(artifact_list).uri)


def encode_split_names(splits: list[str]) -> str:
    return json.dumps(list(splits))


def decode_split_names(split_names: str | list[str]) -> list[str]:
    """Split names from TFX's JSON text (or a list, as penstock's artifacts hold them)."""
    if isinstance(split_names, str):
        return list(json.loads(split_names)) if split_names else []
    return list(split_names)


def get_split_uri(artifact_list: list[Any], split: str) -> str:
    matching = [a for a in artifact_list if split in decode_split_names(a.split_names)]
    if len(matching) != 1:
        raise ExecutionError("executor", f"expected one artifact with split {split!r}, got {len(matching)}")
    return os.path.join(matching[0].uri, f"Split-{split}")


def get_split_uris(artifact_list: list[Any], split: str) -> list[str]:
    return [os.path.join(a.uri, f"Split-{split}") for a in artifact_list if split in decode_split_names(a.split_names)]
