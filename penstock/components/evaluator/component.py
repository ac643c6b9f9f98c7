"""Evaluator: TFMA metrics per slice for a candidate model, and the verdict on whether to ship it.

The candidate is evaluated on the eval split with TFMA (real ``tensorflow_model_analysis``):
metrics per slice (overall, per feature value, feature crosses), value thresholds, and change
thresholds against the latest blessed model (wire ``baseline_model`` from
``Resolver(LatestBlessedModel(), model=Channel(Model), model_blessing=Channel(ModelBlessing))``).
It writes a ModelEvaluation (TFMA's metrics, plots, validations) and a ModelBlessing whose
``blessed`` property the Pusher obeys and whose ``model_id`` lets the resolver find the newest
blessed model. The blessing explains itself: which metric on which slice failed which threshold,
and by how much (``explanation`` custom property, ``explanation.txt``, ``blessing.json``).

Without thresholds nothing proves the model is good enough, so it is not blessed unless
``bless_without_thresholds=True`` says so explicitly. Without a baseline yet (the first model),
change thresholds are skipped and the blessing says so.
"""

from __future__ import annotations

from typing import Any

from penstock.components.evaluator.config import EvalConfigError, parse_eval_config
from penstock.dsl.artifact import Artifact
from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import Examples, Model, ModelBlessing, ModelEvaluation, Schema
from penstock.errors import PipelineDefinitionError


class Evaluator(Component):
    """Evaluate ``model`` with TFMA and bless it if it passes every threshold."""

    SPEC = ComponentSpec(
        inputs={
            "examples": InputSpec(Examples),
            "model": InputSpec(Model),
            "baseline_model": InputSpec(Model, optional=True, description="the latest blessed model (a Resolver)"),
            "schema": InputSpec(Schema, optional=True, description="checks the features the eval_config names"),
        },
        outputs={
            "evaluation": OutputSpec(ModelEvaluation),
            "blessing": OutputSpec(ModelBlessing),
        },
        parameters={
            "eval_config": Parameter(
                dict | str, description="TFMA EvalConfig: the message (tfma.EvalConfig(...)), a dict in its JSON "
                "form or a text-format proto string"
            ),
            "example_splits": Parameter(list[str], default=["eval"], description="splits to evaluate on"),
            "bless_without_thresholds": Parameter(
                bool, default=False, description="bless even though the eval_config has no thresholds"
            ),
        },
    )
    EXECUTOR = "penstock.components.evaluator.executor:run"
    HEAVY_MODULES = ("tensorflow_model_analysis",)
    USES_BEAM = True
    FILE_ACCESS = ("penstock", "beam", "tensorflow")
    VERSION = "1"

    def cache_inputs(self, inputs: dict[str, list[Artifact]]) -> dict[str, list[Artifact]]:
        """A baseline that is the candidate itself (a rerun of an already blessed model) is
        evaluated as no baseline, so it must not change the cache key either."""
        model_ids = {a.id for a in inputs.get("model", [])}
        baseline = inputs.get("baseline_model", [])
        if baseline and {a.id for a in baseline} <= model_ids:
            return {**inputs, "baseline_model": []}
        return inputs

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            parse_eval_config(self.parameters["eval_config"])
        except EvalConfigError as e:
            raise PipelineDefinitionError(f"{self.id}: {e}") from None
        if not self.parameters["example_splits"]:
            raise PipelineDefinitionError(f"{self.id}: example_splits is empty; name at least one split, e.g. ['eval']")
