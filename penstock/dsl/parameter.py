"""Parameters: the values a component is configured with, checked against a type when the
component is declared (JSON-serializable, so they can be recorded and compiled).

One class for both places a parameter is declared:

    ComponentSpec(parameters={"epochs": Parameter(int, default=10, description="...")})

    @component
    def train(..., epochs: Parameter[int] = 10): ...    # (a plain ``int`` annotation works too)
"""

from __future__ import annotations

import dataclasses
from typing import Any

REQUIRED: Any = object()


@dataclasses.dataclass(frozen=True)
class Parameter:
    """A parameter of type ``type`` (a type hint: ``int``, ``list[str]``, ``str | None``,
    ``Literal[...]``, ...). ``user_code=True`` marks a parameter naming a user module file or
    an importable ``module.function``: its source (and the user modules it imports) joins the
    cache key."""

    type: Any
    default: Any = REQUIRED
    description: str = ""
    user_code: bool = False

    def __class_getitem__(cls, item: Any) -> Parameter:
        return cls(item)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED
