"""penstock: production ML pipelines in the style of TFX.

The public API is re-exported here and resolved lazily: ``import penstock`` imports nothing
heavy, and each name loads its module on first use.

    from penstock import Pipeline, component, InputArtifact, OutputArtifact, LocalRunner
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # DSL
    "Pipeline": "penstock.pipelines.pipeline",
    "Component": "penstock.pipelines.component",
    "ComponentSpec": "penstock.pipelines.component",
    "InputSpec": "penstock.pipelines.component",
    "OutputSpec": "penstock.pipelines.component",
    "Channel": "penstock.pipelines.channel",
    "component": "penstock.pipelines.function_component",
    "InputArtifact": "penstock.pipelines.function_component",
    "OutputArtifact": "penstock.pipelines.function_component",
    "Parameter": "penstock.pipelines.function_component",
    "OutputDict": "penstock.pipelines.function_component",
    "Resolver": "penstock.pipelines.resolver",
    "LatestArtifact": "penstock.pipelines.resolver",
    "LatestBlessedModel": "penstock.pipelines.resolver",
    "CachePolicy": "penstock.pipelines.cache",
    "RetryPolicy": "penstock.pipelines.retry",
    "ExecutorContext": "penstock.pipelines.context",
    "Artifact": "penstock.pipelines.artifact",
    # orchestration and metadata
    "LocalRunner": "penstock.orchestrators.local.runner",
    "MetadataStore": "penstock.metadata.store",
    "sqlite": "penstock.metadata.connection",
    "mysql": "penstock.metadata.connection",
}
_MODULES = {"artifacts": "penstock.pipelines.standard_artifacts", "errors": "penstock.errors"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        components = importlib.import_module("penstock.components")
        if name in getattr(components, "__all__", ()):
            value = getattr(components, name)
        else:
            raise AttributeError(f"module 'penstock' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_MODULES])
