"""``tfx.components``: TFX's standard components with TFX's arguments, on penstock (see
``penstock.tfx`` for where their behaviour follows TFX rather than penstock's defaults)."""

from __future__ import annotations

import importlib
from typing import Any

_STANDARD = ("BulkInferrer", "CsvExampleGen", "Evaluator", "ExampleValidator", "ImportExampleGen", "ImportSchemaGen",
             "InfraValidator", "Pusher", "SchemaGen", "StatisticsGen", "Trainer", "Transform", "Tuner")
_OTHER = {"FnArgs": "penstock.components.trainer.fn_args_utils",
          "DataAccessor": "penstock.components.trainer.fn_args_utils",
          "TunerFnResult": "penstock.components.tuner.component"}

__all__ = sorted([*_STANDARD, *_OTHER, "ExampleDiff"])


def __getattr__(name: str) -> Any:
    if name in _STANDARD:
        value = getattr(importlib.import_module("penstock.tfx.components._standard"), name)
    elif name in _OTHER:
        value = getattr(importlib.import_module(_OTHER[name]), name)
    elif name == "ExampleDiff":
        from penstock.errors import PipelineDefinitionError

        raise PipelineDefinitionError("ExampleDiff is not available in penstock.tfx; compare splits with "
                                      "ExampleValidator(drift_thresholds=..., baseline_statistics=...)")
    else:
        raise AttributeError(f"module 'penstock.tfx.components' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
