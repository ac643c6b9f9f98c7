"""Components: a typed spec (inputs, outputs, parameters) plus an executor.

Wiring mistakes are caught here, when a component is declared: unknown arguments, missing
required inputs, channels of the wrong artifact type and parameters of the wrong type all raise
``PipelineDefinitionError`` naming the component and the argument.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from penstock.dsl import types as _typecheck
from penstock.dsl.artifact import Artifact
from penstock.dsl.cache_policy import CachePolicy
from penstock.dsl.channel import Channel
from penstock.dsl.node import Node
from penstock.dsl.parameter import Parameter
from penstock.dsl.retry import RetryPolicy
from penstock.errors import PipelineDefinitionError


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """An input of a component: artifacts of ``type`` from an upstream channel."""

    type: type[Artifact]
    optional: bool = False
    description: str = ""


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """An output of a component: one artifact of ``type`` per execution."""

    type: type[Artifact]
    description: str = ""


@dataclasses.dataclass(frozen=True)
class ComponentSpec:
    inputs: dict[str, InputSpec] = dataclasses.field(default_factory=dict)
    outputs: dict[str, OutputSpec] = dataclasses.field(default_factory=dict)
    parameters: dict[str, Parameter] = dataclasses.field(default_factory=dict)


class Component(Node):
    """Base class of every component.

    Subclasses set ``SPEC`` and ``EXECUTOR``: either a callable ``executor(ctx)`` or the
    string ``"package.module:function"``, imported only when the component runs so that
    declaring a pipeline never imports TensorFlow or Beam. Bump ``VERSION`` when a change to
    the executor changes its results: it is part of the cache key.
    """

    # Class-level for most components; an instance may set its own when its declaration decides
    # its inputs or outputs (TFX-style custom components, BulkInferrer's extra models).
    SPEC: ComponentSpec = ComponentSpec()
    EXECUTOR: ClassVar[str | Callable[..., Any] | None] = None
    VERSION: ClassVar[str] = "1"
    USES_BEAM: ClassVar[bool] = False
    # Heavy modules the executor imports; a run imports them ahead in the background.
    HEAVY_MODULES: ClassVar[tuple[str, ...]] = ()
    # How the executor opens its artifacts' files: "penstock" (penstock.storage), "beam" (Beam's
    # FileSystems), "tensorflow" (tf.io.gfile), "local" (plain file calls). Where one of them
    # cannot open a URI, penstock hands the executor local copies (penstock.storage.staging).
    # Components written by users get local paths on any pipeline root.
    FILE_ACCESS: ClassVar[tuple[str, ...]] = ("local",)

    def __init__(self, *, id: str | None = None, **kwargs: Any) -> None:
        spec = self.SPEC
        super().__init__(id or type(self).__name__, {}, {key: out.type for key, out in spec.outputs.items()})
        self.beam_pipeline_args: list[str] | None = None

        for name, value in kwargs.items():
            # A name may be both an input and a parameter (Trainer's hyperparameters: a channel
            # from a tuner, or literal values); the value's kind decides. None means neither (TFX's
            # Trainer(hyperparameters=None)).
            if name in spec.inputs and (isinstance(value, Channel) or value is None or name not in spec.parameters):
                self._bind_input(name, value)
            elif name in spec.parameters:
                self._bind_parameter(name, value)
            else:
                raise PipelineDefinitionError(
                    f"{self.id}: unknown argument {name!r}. "
                    f"Inputs: {_names(spec.inputs)}; parameters: {_names(spec.parameters)}"
                )
        for name, input_spec in spec.inputs.items():
            if name not in self.inputs and not input_spec.optional:
                raise PipelineDefinitionError(
                    f"{self.id}: required input {name!r} ({input_spec.type.__name__}) is missing"
                )
        for name, param in spec.parameters.items():
            if name not in self.parameters:
                if param.required:
                    raise PipelineDefinitionError(
                        f"{self.id}: required parameter {name!r} ({_typecheck.describe(param.type)}) is missing"
                    )
                self.parameters[name] = param.default

    def _bind_input(self, name: str, value: Any) -> None:
        expected = self.SPEC.inputs[name]
        if value is None:
            if not expected.optional:
                raise PipelineDefinitionError(f"{self.id}: required input {name!r} is None")
            return
        if not isinstance(value, Channel):
            raise PipelineDefinitionError(
                f"{self.id}: input {name!r} expects a channel of {expected.type.__name__} "
                f"(e.g. other_component.outputs[...]), got {type(value).__name__} {value!r:.80}"
            )
        if not issubclass(value.type, expected.type):
            raise PipelineDefinitionError(
                f"{self.id}: input {name!r} expects {expected.type.__name__}, "
                f"got {value.describe()}"
            )
        self.inputs[name] = value

    def _bind_parameter(self, name: str, value: Any) -> None:
        param = self.SPEC.parameters[name]
        if _is_proto_message(value):
            # A config message (TFMA's EvalConfig, tfx.proto.TrainArgs, ...) is recorded in its
            # JSON form, the form dict-typed parameters take.
            from google.protobuf import json_format

            value = json_format.MessageToDict(value, preserving_proto_field_name=True)
        if not _typecheck.matches(value, param.type):
            raise PipelineDefinitionError(
                f"{self.id}: parameter {name!r} expects {_typecheck.describe(param.type)}, "
                f"got {type(value).__name__} {value!r:.80}"
            )
        try:
            json.dumps(value)
        except TypeError as e:
            raise PipelineDefinitionError(
                f"{self.id}: parameter {name!r} must be JSON-serializable ({e})"
            ) from None
        self.parameters[name] = value

    # -- fluent configuration -------------------------------------------------------------
    def with_cache(self, enabled: bool = True, policy: CachePolicy | None = None) -> Component:
        self.cache_policy = policy or dataclasses.replace(self.cache_policy, enabled=enabled)
        return self

    def with_retry(self, max_attempts: int = 3, backoff_seconds: float = 1.0) -> Component:
        self.retry_policy = RetryPolicy(max_attempts=max_attempts, backoff_seconds=backoff_seconds)
        return self

    def with_beam_pipeline_args(self, args: Iterable[str]) -> Component:
        """Override the pipeline's beam_pipeline_args for this component only."""
        self.beam_pipeline_args = list(args)
        return self

    def cache_inputs(self, inputs: dict[str, list[Artifact]]) -> dict[str, list[Artifact]]:
        """The inputs that enter the cache key; override to drop inputs that cannot change the
        result in some situation (the key stays explicit: it is stored and shown as is)."""
        return inputs

    def external_inputs(self) -> dict[str, str]:
        """Fingerprints of what the component reads besides its input artifacts (files named by
        its parameters, say), for its cache key: when one changes, the cache misses. None by
        default; ExampleGens fingerprint their input files."""
        return {}

    def user_code_refs(self) -> list[str]:
        """Module files or ``module.function`` names of user code this component runs."""
        return [
            str(self.parameters[name])
            for name, p in self.SPEC.parameters.items()
            if p.user_code and self.parameters.get(name)
        ]

    def executor_fn(self) -> Callable[..., Any]:
        from penstock.runtime.user_code import load_callable

        executor = type(self).EXECUTOR  # via the class: a plain function must not bind as a method
        if executor is None:
            raise PipelineDefinitionError(f"{self.id}: {type(self).__name__} defines no EXECUTOR")
        if isinstance(executor, str):
            return load_callable(executor, what=f"{self.id} executor")
        return executor


def _is_proto_message(value: Any) -> bool:
    return hasattr(value, "DESCRIPTOR") and hasattr(value, "SerializeToString") and hasattr(value, "ListFields")


def _names(d: dict[str, Any]) -> str:
    return ", ".join(d) or "(none)"
