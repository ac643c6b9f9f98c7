"""``tfx.utils.json_utils``."""

from __future__ import annotations

import json
from typing import Any, Union

JsonableType = Union[dict[str, Any], list[Any], str, int, float, bool, None]


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def loads(s: str) -> Any:
    return json.loads(s)
