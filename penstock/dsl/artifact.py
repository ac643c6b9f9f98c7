"""Artifacts: typed references to files a component wrote, mirrored as ML Metadata artifacts.

An artifact class declares its ML Metadata type name and typed properties; instances carry a
uri, property values, custom properties and a state. Executors read and write the files under
``uri``; the orchestrator records everything else.
"""

from __future__ import annotations

import enum
import json
from typing import Any, ClassVar


class PropertyType(enum.Enum):
    """The property kinds penstock stores in ML Metadata (a subset of MLMD's PropertyType)."""

    INT = "INT"
    FLOAT = "DOUBLE"
    STRING = "STRING"

    def coerce(self, name: str, value: Any) -> Any:
        """Return ``value`` as this property kind, or raise TypeError naming the property."""
        if self is PropertyType.INT and isinstance(value, int) and not isinstance(value, bool):
            return value
        if self is PropertyType.FLOAT and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if self is PropertyType.STRING and isinstance(value, str):
            return value
        raise TypeError(f"property {name!r} expects {self.name}, got {type(value).__name__} {value!r}")


class ArtifactState(enum.Enum):
    """Lifecycle of an artifact; only LIVE artifacts may be consumed."""

    PENDING = "PENDING"
    LIVE = "LIVE"
    ABANDONED = "ABANDONED"
    DELETED = "DELETED"


_REGISTRY: dict[str, type[Artifact]] = {}


class Artifact:
    """Base class of every artifact type.

    Subclasses set ``TYPE_NAME`` (the ML Metadata type name) and ``PROPERTIES`` (typed
    properties registered on that type). Anything else goes into ``custom_properties``.
    """

    TYPE_NAME: ClassVar[str] = "Artifact"
    PROPERTIES: ClassVar[dict[str, PropertyType]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TYPE_NAME" not in cls.__dict__:
            cls.TYPE_NAME = cls.__name__
        _REGISTRY[cls.TYPE_NAME] = cls

    def __init__(
        self,
        uri: str = "",
        properties: dict[str, Any] | None = None,
        custom_properties: dict[str, Any] | None = None,
        *,
        id: int | None = None,
        state: ArtifactState = ArtifactState.PENDING,
        create_time_ms: int | None = None,
    ) -> None:
        self.uri = uri
        self.id = id
        self.state = state
        self.create_time_ms = create_time_ms
        self.properties: dict[str, Any] = {}
        self.custom_properties: dict[str, Any] = dict(custom_properties or {})
        for name, value in (properties or {}).items():
            self.set_property(name, value)

    # -- properties -----------------------------------------------------------------------
    def set_property(self, name: str, value: Any) -> None:
        kind = self.PROPERTIES.get(name)
        if kind is None:
            raise KeyError(
                f"{self.TYPE_NAME} has no property {name!r}; declared properties: "
                f"{', '.join(sorted(self.PROPERTIES)) or '(none)'} (use custom_properties for others)"
            )
        self.properties[name] = kind.coerce(name, value)

    def get_property(self, name: str, default: Any = None) -> Any:
        return self.properties.get(name, default)

    # -- multi-split artifacts ----------------------------------------------------------------
    @property
    def split_names(self) -> list[str]:
        raw = self.properties.get("split_names")
        return list(json.loads(raw)) if raw else []

    @split_names.setter
    def split_names(self, names: list[str] | str) -> None:
        # TFX code assigns the JSON text itself (artifact_utils.encode_split_names).
        self.set_property("split_names", names if isinstance(names, str) else json.dumps(list(names)))

    def split_uri(self, split: str) -> str:
        """Directory holding one split, in TFX's layout (``<uri>/Split-<name>``)."""
        return f"{self.uri.rstrip('/')}/Split-{split}"

    def __repr__(self) -> str:
        return f"{self.TYPE_NAME}(id={self.id}, uri={self.uri!r}, state={self.state.value})"


def registry() -> dict[str, type[Artifact]]:
    """Every artifact class defined so far, by ML Metadata type name."""
    return dict(_REGISTRY)
