"""``tfx.orchestration``: ``LocalDagRunner``, ``metadata`` helpers, ``experimental`` (the
Kubeflow V2 runner, which writes penstock's KFP spec), ``pipeline`` (TFX's Pipeline module)."""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("beam", "experimental", "kubeflow", "local", "metadata", "pipeline")

__all__ = ["LocalDagRunner", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name == "LocalDagRunner":
        from penstock.tfx._runners import LocalDagRunner

        value: Any = LocalDagRunner
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'penstock.tfx.orchestration' has no attribute {name!r}")
    globals()[name] = value
    return value
