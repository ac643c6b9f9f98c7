"""The Trainer component: runs the user's ``run_fn(fn_args)`` and verifies the exported model.

Give either ``module_file`` (a ``.py`` file defining ``run_fn``) or ``run_fn``
(``"package.module.function"`` or ``"path/file.py:function"``). ``train_args`` / ``eval_args``
are dicts standing in for TFX's protos: ``{"num_steps": 100, "splits": ["train"]}``.
"""

from __future__ import annotations

from typing import Any, Literal

from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import (
    Examples,
    HyperParameters,
    Model,
    ModelRun,
    Schema,
    TransformGraph,
)
from penstock.errors import PipelineDefinitionError
from penstock.runtime.user_functions import require_one_source

_ARGS_KEYS = {"num_steps", "splits"}


# What the Trainer and the Tuner share: the inputs FnArgs is built from, the user function and
# its arguments (penstock.components.trainer.executor.common_fn_args).
FN_ARGS_INPUTS = {
    "examples": InputSpec(Examples),
    "transform_graph": InputSpec(TransformGraph, optional=True),
    "schema": InputSpec(Schema, optional=True),
    "base_model": InputSpec(Model, optional=True),
}


def fn_args_parameters(function: str) -> dict[str, Parameter]:
    """``module_file`` or ``<function>`` (the user code), ``train_args``, ``eval_args``, ``custom_config``."""
    return {
        "module_file": Parameter(str | None, default=None, user_code=True, description=f"file defining {function}"),
        function: Parameter(str | None, default=None, user_code=True,
                            description="'package.module.function' or 'file.py:function'"),
        "train_args": Parameter(dict[str, Any], default={}),
        "eval_args": Parameter(dict[str, Any], default={}),
        "custom_config": Parameter(dict[str, Any], default={}),
    }


class Trainer(Component):
    """Train a model with user code; export it for serving; check training/serving skew.

    When a ``transform_graph`` is wired in, penstock feeds up to ``skew_check_rows`` raw eval
    rows through the model on Beam-transformed features and through the exported raw-feature
    signatures, and fails if any prediction differs by more than ``skew_tolerance``.
    """

    SPEC = ComponentSpec(
        inputs={**FN_ARGS_INPUTS, "hyperparameters": InputSpec(HyperParameters, optional=True)},
        outputs={
            "model": OutputSpec(Model),
            "model_run": OutputSpec(ModelRun),
        },
        parameters={
            **fn_args_parameters("run_fn"),
            "hyperparameters": Parameter(dict[str, Any], default={},
                                         description="used when no HyperParameters artifact is wired"),
            "strategy": Parameter(Literal["auto", "default", "mirrored", "tpu"], default="auto"),
            "skew_check": Parameter(bool, default=True),
            "skew_check_rows": Parameter(int, default=200),
            "skew_tolerance": Parameter(float, default=1e-6),
        },
    )
    EXECUTOR = "penstock.components.trainer.executor:run"
    # run_fn reads examples and writes the model through TensorFlow, as in TFX
    FILE_ACCESS = ("penstock", "tensorflow")
    HEAVY_MODULES = ("tensorflow", "tf_keras")
    VERSION = "1"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        require_one_source(self.id, self.parameters, "run_fn")
        for name in ("train_args", "eval_args"):
            unknown = set(self.parameters[name]) - _ARGS_KEYS
            if unknown:
                raise PipelineDefinitionError(
                    f"{self.id}: {name} has unknown keys {sorted(unknown)}; allowed: {sorted(_ARGS_KEYS)}"
                )
            steps = self.parameters[name].get("num_steps")
            if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 0):
                raise PipelineDefinitionError(f"{self.id}: {name}['num_steps'] must be an int >= 0, got {steps!r}")
