"""TFX's artifact API over penstock's artifacts.

Executors written for TFX (``BaseExecutor.Do``) call methods penstock's artifacts do not have
(``get_string_custom_property``, ``split_names`` as JSON text, ...): they receive an
:class:`ArtifactView` of each artifact, which reads and writes the penstock artifact behind it.
Custom artifact types subclass :class:`Artifact` with TFX's ``PROPERTIES = {"span":
Property(type=PropertyType.INT)}``.
"""

from __future__ import annotations

import enum
import json
from typing import Any, ClassVar

from penstock.dsl import artifact as _penstock


class PropertyType(enum.Enum):
    """TFX's property kinds; JSON_VALUE and PROTO are kept as text."""

    INT = 1
    FLOAT = 2
    STRING = 3
    JSON_VALUE = 4
    PROTO = 5

    def penstock(self) -> _penstock.PropertyType:
        if self is PropertyType.INT:
            return _penstock.PropertyType.INT
        if self is PropertyType.FLOAT:
            return _penstock.PropertyType.FLOAT
        return _penstock.PropertyType.STRING


class Property:
    """A declared property of a TFX-style artifact type."""

    def __init__(self, type: PropertyType, description: str | None = None) -> None:
        self.type = type
        self.description = description


class Artifact(_penstock.Artifact):
    """Base class of artifact types written as TFX's: ``TYPE_NAME`` and ``PROPERTIES`` of
    :class:`Property` (penstock's own ``PropertyType`` values work too)."""

    TYPE_NAME: ClassVar[str] = "Artifact"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        cls.PROPERTIES = {
            name: kind.type.penstock() if isinstance(kind, Property) else kind
            for name, kind in dict(cls.__dict__.get("PROPERTIES", {})).items()
        } or dict(cls.PROPERTIES)
        super().__init_subclass__(**kwargs)


_DEFAULTS: dict[str, Any] = {"string": "", "int": 0, "float": 0.0, "json_value": None}


class ArtifactView:
    """One artifact as TFX's ``types.Artifact`` presents it, backed by a penstock artifact."""

    __slots__ = ("_artifact",)

    def __init__(self, artifact: _penstock.Artifact) -> None:
        object.__setattr__(self, "_artifact", artifact)

    @property
    def penstock_artifact(self) -> _penstock.Artifact:
        return self._artifact

    @property
    def type_name(self) -> str:
        return self._artifact.TYPE_NAME

    @property
    def split_names(self) -> str:
        """TFX keeps split names as JSON text (``artifact_utils.decode_split_names`` reads it)."""
        return json.dumps(self._artifact.split_names)

    @split_names.setter
    def split_names(self, names: str | list[str]) -> None:
        self._artifact.split_names = names

    def __getattr__(self, name: str) -> Any:
        artifact = self._artifact
        if name in artifact.PROPERTIES:
            return artifact.get_property(name)
        return getattr(artifact, name)

    def __setattr__(self, name: str, value: Any) -> None:
        artifact = self._artifact
        if name in artifact.PROPERTIES:
            artifact.set_property(name, value)
        elif name == "split_names":
            artifact.split_names = value
        else:
            setattr(artifact, name, value)

    # -- custom properties, TFX's accessors --------------------------------------------------------
    def has_custom_property(self, name: str) -> bool:
        return name in self._artifact.custom_properties

    def has_property(self, name: str) -> bool:
        return name in self._artifact.properties

    def get_custom_property(self, name: str) -> Any:
        return self._artifact.custom_properties.get(name)

    def set_custom_property(self, name: str, value: Any) -> None:
        self._artifact.custom_properties[name] = value

    def get_string_custom_property(self, name: str) -> str:
        return str(self._artifact.custom_properties.get(name, _DEFAULTS["string"]))

    def get_int_custom_property(self, name: str) -> int:
        return int(self._artifact.custom_properties.get(name, _DEFAULTS["int"]))

    def get_float_custom_property(self, name: str) -> float:
        return float(self._artifact.custom_properties.get(name, _DEFAULTS["float"]))

    def get_json_value_custom_property(self, name: str) -> Any:
        value = self._artifact.custom_properties.get(name)
        return json.loads(value) if isinstance(value, str) else value

    def set_string_custom_property(self, name: str, value: str) -> None:
        self._artifact.custom_properties[name] = str(value)

    def set_int_custom_property(self, name: str, value: int) -> None:
        self._artifact.custom_properties[name] = int(value)

    def set_float_custom_property(self, name: str, value: float) -> None:
        self._artifact.custom_properties[name] = float(value)

    def set_json_value_custom_property(self, name: str, value: Any) -> None:
        self._artifact.custom_properties[name] = json.dumps(value)

    def __repr__(self) -> str:
        return f"ArtifactView({self._artifact!r})"


def view(artifact: _penstock.Artifact) -> ArtifactView:
    return artifact if isinstance(artifact, ArtifactView) else ArtifactView(artifact)


def unwrap(artifact: Any) -> _penstock.Artifact:
    return artifact.penstock_artifact if isinstance(artifact, ArtifactView) else artifact
