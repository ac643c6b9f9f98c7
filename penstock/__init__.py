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
    "Pipeline": "penstock.dsl.pipeline",
    "Component": "penstock.dsl.component",
    "ComponentSpec": "penstock.dsl.component",
    "InputSpec": "penstock.dsl.component",
    "OutputSpec": "penstock.dsl.component",
    "Channel": "penstock.dsl.channel",
    "component": "penstock.dsl.function_component",
    "InputArtifact": "penstock.dsl.function_component",
    "OutputArtifact": "penstock.dsl.function_component",
    "Parameter": "penstock.dsl.function_component",
    "OutputDict": "penstock.dsl.function_component",
    "Resolver": "penstock.dsl.resolver",
    "LatestArtifact": "penstock.dsl.resolver",
    "LatestBlessedModel": "penstock.dsl.resolver",
    "CachePolicy": "penstock.dsl.cache_policy",
    "RetryPolicy": "penstock.dsl.retry",
    "ExecutorContext": "penstock.runtime.context",
    "Artifact": "penstock.dsl.artifact",
    # orchestration and metadata
    "LocalRunner": "penstock.orchestrators.local.runner",
    "MetadataStore": "penstock.metadata.store",
    "sqlite": "penstock.metadata.connection",
    "mysql": "penstock.metadata.connection",
}
_MODULES = {"artifacts": "penstock.dsl.standard_artifacts", "errors": "penstock.errors"}


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
