"""The standard components. Each is declared in its own module and imported on first use;
declarations import nothing heavy (executors load TensorFlow, Beam, TFDV, TFT or TFMA when a
component runs)."""

from __future__ import annotations

import importlib
from typing import Any

_COMPONENTS = {
    "CsvExampleGen": "penstock.components.example_gen",
    "ParquetExampleGen": "penstock.components.example_gen",
    "ImportExampleGen": "penstock.components.example_gen",
    "StatisticsGen": "penstock.components.statistics_gen",
    "SchemaGen": "penstock.components.schema_gen",
    "ImportSchemaGen": "penstock.components.schema_gen",
    "ExampleValidator": "penstock.components.example_validator",
    "Transform": "penstock.components.transform",
    "Trainer": "penstock.components.trainer",
    "Evaluator": "penstock.components.evaluator",
    "InfraValidator": "penstock.components.infra_validator",
    "Pusher": "penstock.components.pusher",
    "Tuner": "penstock.components.tuner",
    "BulkInferrer": "penstock.components.bulk_inferrer",
}

__all__ = sorted(_COMPONENTS)


def __getattr__(name: str) -> Any:
    module = _COMPONENTS.get(name)
    if module is None:
        raise AttributeError(f"module 'penstock.components' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
