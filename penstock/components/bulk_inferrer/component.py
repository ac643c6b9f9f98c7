"""The BulkInferrer component: one or several models over unlabelled examples, on Beam.

Each model's signature (``serving_default`` by default) runs on batches of the serialized
examples of every split (or ``example_splits``). Outputs, by ``output_format``:

- ``"prediction_log"`` (TFX's format): ``inference_result/prediction_logs-*.gz``, gzip
  TFRecords of ``PredictionLog`` (request: the example; response: the outputs); extra models'
  logs under ``inference_result/<name>/``;
- ``"examples"``: ``output_examples/Split-<split>/examples-*.gz``, the input features (or
  ``carry_features``) plus prediction columns (``output_example_spec``: TFX's
  OutputExampleSpec in JSON form, ``predict_output`` column names);
- ``"parquet"``: ``inference_result/Split-<split>/predictions-*.parquet``, the
  ``carry_features`` (ids) plus prediction columns.

Several models in one pass (offline A/B): ``extra_models={"challenger": other.outputs["model"]}``;
their columns are prefixed ``<name>_``. The gate: a wired ``model_blessing`` that is not blessed
stops inference (TFX's rule, the outputs record why); with ``require_blessing`` (penstock's
default) a model must also have a positive blessing in ML Metadata (the Evaluator's or
``penstock bless``'s) when none is wired.
"""

from __future__ import annotations

from typing import Any, Literal

from penstock.dsl.channel import Channel
from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import Examples, InferenceResult, Model, ModelBlessing
from penstock.errors import PipelineDefinitionError

OUTPUT_FORMATS = ("prediction_log", "examples", "parquet")
EXTRA_MODEL_PREFIX = "model_"


class BulkInferrer(Component):
    """Run ``model`` (and ``extra_models``) over ``examples``; write predictions."""

    BASE_INPUTS = {
        "examples": InputSpec(Examples, description="examples to infer on (serialized tf.Example)"),
        "model": InputSpec(Model),
        "model_blessing": InputSpec(ModelBlessing, optional=True, description="gates inference (TFX's rule)"),
    }
    PARAMETERS = {
        "example_splits": Parameter(list[str], default=[], description="empty: every split"),
        "signature_names": Parameter(list[str], default=[], description="empty: serving_default"),
        "tags": Parameter(list[str], default=[], description="SavedModel tags (empty: serve)"),
        "output_format": Parameter(Literal["prediction_log", "examples", "parquet"], default="prediction_log"),
        "output_example_spec": Parameter(dict[str, Any], default={}, description="TFX OutputExampleSpec (JSON form)"),
        "carry_features": Parameter(list[str] | None, default=None,
                                    description="input features copied to the output (default: all for "
                                                "examples, none for parquet)"),
        "extra_models": Parameter(list[str], default=[], description="names of the extra models (inputs model_<name>)"),
        "require_blessing": Parameter(bool, default=True),
        "batch_size": Parameter(int, default=2048),
    }
    EXECUTOR = "penstock.components.bulk_inferrer.executor:run"
    USES_BEAM = True
    FILE_ACCESS = ("penstock", "tensorflow")
    HEAVY_MODULES = ("tensorflow", "apache_beam")
    VERSION = "1"

    def __init__(self, *, extra_models: dict[str, Channel] | None = None, output_format: str = "prediction_log",
                 **kwargs: Any) -> None:
        extra = dict(extra_models or {})
        for name, channel in extra.items():
            if not name.isidentifier():
                raise PipelineDefinitionError(f"BulkInferrer: extra model name {name!r} must be an identifier")
            kwargs[f"{EXTRA_MODEL_PREFIX}{name}"] = channel
        if output_format not in OUTPUT_FORMATS:
            raise PipelineDefinitionError(f"BulkInferrer: output_format {output_format!r} is not one of {OUTPUT_FORMATS}")
        output = ("output_examples", Examples) if output_format == "examples" else ("inference_result", InferenceResult)
        # The spec depends on the declaration: one input per extra model, one output per format.
        self.SPEC = ComponentSpec(
            inputs={**self.BASE_INPUTS, **{f"{EXTRA_MODEL_PREFIX}{n}": InputSpec(Model) for n in extra}},
            outputs={output[0]: OutputSpec(output[1])},
            parameters=dict(self.PARAMETERS),
        )
        super().__init__(extra_models=sorted(extra), output_format=output_format, **kwargs)
        if self.parameters["batch_size"] < 1:
            raise PipelineDefinitionError(f"{self.id}: batch_size must be >= 1")
