"""``tfx.dsl``: Pipeline, Resolver, Cond, Importer, Channel, Artifact and the submodules
``components`` (the function-component decorator), ``experimental`` (resolver strategies),
``io`` and ``placeholders``."""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "Pipeline": "penstock.tfx._dsl", "Resolver": "penstock.tfx._dsl", "Importer": "penstock.tfx._dsl",
    "Channel": "penstock.tfx._dsl", "ExecutionMode": "penstock.tfx._dsl", "Cond": "penstock.dsl.conditional",
    "Artifact": "penstock.tfx._artifacts",
}
_SUBMODULES = ("components", "experimental", "io", "placeholders")

__all__ = sorted([*_NAMES, *_SUBMODULES])


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'penstock.tfx.dsl' has no attribute {name!r}")
    globals()[name] = value
    return value
