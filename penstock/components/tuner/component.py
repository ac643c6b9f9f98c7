"""The Tuner component: ``tuner_fn(fn_args)`` builds a KerasTuner tuner; penstock runs its trials
in parallel worker processes and records every one of them.

``num_parallel_trials`` (default: one per core, at most the tuner's ``max_trials``) processes
search together against one oracle, KerasTuner's own distributed protocol on loopback: this
process holds the oracle and runs trials too; the others ask it for trials. Outputs, in TFX's
layout: ``best_hyperparameters`` (a HyperParameters artifact, ``best_hyperparameters.txt``: the
KerasTuner config the Trainer hands to ``run_fn`` as ``fn_args.hyperparameters``) and
``tuner_results`` (``tuner_results.json``: completed trials, best first; ``trials.json``: every
trial with its status and metrics).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from penstock.components.trainer.component import FN_ARGS_INPUTS, fn_args_parameters
from penstock.dsl.component import Component, ComponentSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import HyperParameters, TunerResults
from penstock.errors import PipelineDefinitionError
from penstock.runtime.user_functions import require_one_source


class TunerFnResult(NamedTuple):
    """What ``tuner_fn`` returns: a KerasTuner tuner and the arguments of its ``search``."""

    tuner: Any
    fit_kwargs: dict[str, Any]


class Tuner(Component):
    """Search hyperparameters with the KerasTuner tuner ``tuner_fn`` builds."""

    SPEC = ComponentSpec(
        inputs=dict(FN_ARGS_INPUTS),
        outputs={
            "best_hyperparameters": OutputSpec(HyperParameters),
            "tuner_results": OutputSpec(TunerResults),
        },
        parameters={
            **fn_args_parameters("tuner_fn"),
            "num_parallel_trials": Parameter(int | None, default=None,
                                             description="worker processes (default: one per core)"),
        },
    )
    EXECUTOR = "penstock.components.tuner.executor:run"
    FILE_ACCESS = ("penstock", "tensorflow")
    HEAVY_MODULES = ("tensorflow", "tf_keras", "keras_tuner")
    VERSION = "1"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        require_one_source(self.id, self.parameters, "tuner_fn")
        parallel = self.parameters["num_parallel_trials"]
        if parallel is not None and parallel < 1:
            raise PipelineDefinitionError(f"{self.id}: num_parallel_trials must be >= 1, got {parallel}")
