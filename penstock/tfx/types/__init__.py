"""``tfx.types``: Channel, artifact types, component base classes and component specs."""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "Channel": "penstock.tfx._dsl", "BaseChannel": "penstock.dsl.channel", "Artifact": "penstock.tfx._artifacts",
    "Property": "penstock.tfx._artifacts", "ValueArtifact": "penstock.dsl.standard_artifacts",
    "BaseComponent": "penstock.tfx._custom", "BaseBeamComponent": "penstock.tfx._custom",
    "ComponentSpec": "penstock.tfx._custom", "BaseNode": "penstock.dsl.node",
    "BaseFunctionalComponent": "penstock.dsl.function_component",
}
_ALIASES = {"BaseChannel": "Channel", "BaseNode": "Node", "BaseFunctionalComponent": "FunctionComponent"}
_SUBMODULES = ("artifact", "artifact_utils", "component_spec", "standard_artifacts")

__all__ = sorted([*_NAMES, *_SUBMODULES, "BaseFunctionalComponentFactory"])


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), _ALIASES.get(name, name))
    elif name == "BaseFunctionalComponentFactory":
        value = type(None)  # what @component returns is a class: no factory type exists in penstock
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'penstock.tfx.types' has no attribute {name!r}")
    globals()[name] = value
    return value
