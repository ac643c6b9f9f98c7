"""penstock: production ML pipelines in the style of TFX.

The public API is re-exported here and resolved lazily: ``import penstock`` imports nothing
heavy, and each name loads its module on first use.

    from penstock import Pipeline, CsvExampleGen, Trainer, component, InputArtifact, OutputArtifact
    from penstock.artifacts import Examples, Model

The standard components (``CsvExampleGen`` ... ``Pusher``) come from ``penstock.components``;
everything else under ``penstock.*`` is internal and may move between releases.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # DSL: what a pipeline file declares
    "Pipeline": "penstock.dsl.pipeline",
    "Component": "penstock.dsl.component",
    "ComponentSpec": "penstock.dsl.component",
    "InputSpec": "penstock.dsl.component",
    "OutputSpec": "penstock.dsl.component",
    "Parameter": "penstock.dsl.parameter",
    "Channel": "penstock.dsl.channel",
    "component": "penstock.dsl.function_component",
    "InputArtifact": "penstock.dsl.function_component",
    "OutputArtifact": "penstock.dsl.function_component",
    "OutputDict": "penstock.dsl.function_component",
    "Resolver": "penstock.dsl.resolver",
    "LatestArtifact": "penstock.dsl.resolver",
    "LatestBlessedModel": "penstock.dsl.resolver",
    "CachePolicy": "penstock.dsl.cache_policy",
    "RetryPolicy": "penstock.dsl.retry",
    "Artifact": "penstock.dsl.artifact",
    # what executors and user code receive
    "ExecutorContext": "penstock.runtime.context",
    "FnArgs": "penstock.components.trainer",
    "DatasetOptions": "penstock.components.trainer",
    "export_serving_model": "penstock.components.trainer",
    "load_base_weights": "penstock.components.trainer.warm_start",
    # running and recording
    "LocalRunner": "penstock.orchestrators.local.runner",
    "MetadataStore": "penstock.metadata.store",
    "sqlite": "penstock.metadata.connection",
    "mysql": "penstock.metadata.connection",
}
_MODULES = {"artifacts": "penstock.artifacts", "errors": "penstock.errors", "testing": "penstock.testing"}


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
