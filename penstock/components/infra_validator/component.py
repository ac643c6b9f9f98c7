"""InfraValidator: the candidate must load in penstock's model server and answer like itself.

The model is put in TF Serving's layout and served by ``penstock.serving`` on a loopback port;
raw eval examples go through its REST API (``:predict`` with base64 serialized tf.Examples,
exactly as a client would send them). The model is blessed only if it loads, every request is
answered, and every answer equals the in-process SavedModel call on the same examples within
``tolerance``: an end-to-end guard against serving skew (signature, parsing, JSON encoding).
"""

from __future__ import annotations

from typing import Any

from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import Examples, InfraBlessing, Model
from penstock.errors import PipelineDefinitionError


class InfraValidator(Component):
    """Serve ``model`` on loopback, replay ``num_examples`` eval examples, compare the answers."""

    SPEC = ComponentSpec(
        inputs={
            "model": InputSpec(Model),
            "examples": InputSpec(Examples, description="raw examples to send (tf.Example, not transformed)"),
        },
        outputs={"blessing": OutputSpec(InfraBlessing)},
        parameters={
            "example_split": Parameter(str, default="eval"),
            "num_examples": Parameter(int, default=100, description="examples replayed through the server"),
            "batch_size": Parameter(int, default=10, description="examples per request"),
            "signature_name": Parameter(str, default="serving_default"),
            # 1e-5: the server runs the SavedModel as TF Serving does (a TF1 session over its
            # signatures) and the reference through tf.function; their float32 results differ by
            # rounding (1.3e-6 was seen on a logit), far below any real skew (a transform left out).
            "tolerance": Parameter(
                float, default=1e-5, description="largest |server - in-process| / max(1, |in-process|) allowed"
            ),
            "load_timeout_seconds": Parameter(float, default=120.0),
        },
    )
    EXECUTOR = "penstock.components.infra_validator.executor:run"
    FILE_ACCESS = ("penstock",)  # the model is served from a local copy
    HEAVY_MODULES = ("tensorflow",)
    VERSION = "1"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name in ("num_examples", "batch_size"):
            if self.parameters[name] < 1:
                raise PipelineDefinitionError(f"{self.id}: {name} must be >= 1, got {self.parameters[name]}")
        if self.parameters["tolerance"] < 0:
            raise PipelineDefinitionError(f"{self.id}: tolerance must be >= 0, got {self.parameters['tolerance']}")
