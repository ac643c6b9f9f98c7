"""``tfx.types.standard_artifacts``: the artifact types standard components pass (penstock's own
classes; type names and layouts are TFX's)."""

from typing import Any

from penstock.artifacts import *  # noqa: F403 - TFX's standard artifact types are penstock's
from penstock.artifacts import ValueArtifact
from penstock.artifacts import __all__ as _PENSTOCK_TYPES


class Bytes(ValueArtifact):
    """A bytes value (stored base64 in JSON)."""

    VALUE_TYPE = bytes

    def encode(self, value: Any) -> str:
        import base64
        import json

        return json.dumps(base64.b64encode(bytes(value)).decode())

    def decode(self, text: str) -> bytes:
        import base64
        import json

        return base64.b64decode(json.loads(text))


__all__ = [*_PENSTOCK_TYPES, "Bytes"]
