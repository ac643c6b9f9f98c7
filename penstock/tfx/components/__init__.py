"""``tfx.components``: TFX's standard components with TFX's arguments, on penstock (see
``penstock.tfx`` for where their behaviour follows TFX rather than penstock's defaults).
``ExampleDiff`` is not available: reading it raises PipelineDefinitionError saying what to use."""

from typing import Any

from penstock.tfx._lazy import lazy_attributes

_STANDARD = ("BulkInferrer", "CsvExampleGen", "Evaluator", "ExampleValidator", "ImportExampleGen", "ImportSchemaGen",
             "InfraValidator", "Pusher", "SchemaGen", "StatisticsGen", "Trainer", "Transform", "Tuner")
_NAMES = {
    **{name: ("penstock.tfx.components._standard", name) for name in _STANDARD},
    "FnArgs": ("penstock.components.trainer.fn_args_utils", "FnArgs"),
    "DataAccessor": ("penstock.components.trainer.fn_args_utils", "DataAccessor"),
    "TunerFnResult": ("penstock.components.tuner.component", "TunerFnResult"),
}
__all__ = sorted([*_NAMES, "ExampleDiff"])
_getattr, __dir__ = lazy_attributes(__name__, _NAMES)


def __getattr__(name: str) -> Any:
    if name == "ExampleDiff":
        from penstock.errors import PipelineDefinitionError

        raise PipelineDefinitionError("ExampleDiff is not available in penstock.tfx; compare splits with "
                                      "ExampleValidator(drift_thresholds=..., baseline_statistics=...)")
    return _getattr(name)
