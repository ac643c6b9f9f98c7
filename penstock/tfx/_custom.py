"""Custom components written against TFX's component API, run by penstock.

    class MySpec(types.ComponentSpec):
        PARAMETERS = {"name": ExecutionParameter(type=str)}
        INPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}
        OUTPUTS = {"report": ChannelParameter(type=standard_artifacts.String)}

    class MyExecutor(base_executor.BaseExecutor):
        def Do(self, input_dict, output_dict, exec_properties): ...

    class MyComponent(base_component.BaseComponent):
        SPEC_CLASS = MySpec
        EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(MyExecutor)

A :class:`BaseComponent` is a penstock :class:`~penstock.dsl.component.Component` whose spec is
built from ``SPEC_CLASS``; its executor instantiates ``EXECUTOR_SPEC.executor_class`` and calls
``Do(input_dict, output_dict, exec_properties)`` with TFX's conventions: lists of artifacts
(with TFX's artifact API, see ``_artifacts``), and proto-typed execution properties as JSON
text. The executor class's source file joins the cache key, as a function component's does.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any, ClassVar

from penstock.dsl.channel import Channel
from penstock.dsl.component import Component, InputSpec, OutputSpec
from penstock.dsl.component import ComponentSpec as _PenstockSpec
from penstock.dsl.parameter import Parameter
from penstock.errors import PipelineDefinitionError
from penstock.tfx._artifacts import view
from penstock.tfx._nodes import TfxNodeMixin


class ExecutionParameter:
    """An execution property of a component spec: a primitive type, a dict/list, or a proto
    message class (passed to the executor as JSON text, as TFX does)."""

    def __init__(self, type: Any = None, optional: bool = False, use_proto: bool = False) -> None:
        self.type = type
        self.optional = optional
        self.use_proto = use_proto


class ChannelParameter:
    """An input or output of a component spec: a channel of artifacts of ``type``."""

    def __init__(self, type: Any = None, optional: bool = False, allow_empty: bool = False,
                 is_async: bool = False, type_name: str | None = None) -> None:
        if type is None:
            raise PipelineDefinitionError(f"ChannelParameter needs an artifact type (type_name={type_name!r})")
        self.type = type
        self.optional = optional or allow_empty


class ComponentSpec:
    """TFX's component spec: declare ``PARAMETERS``, ``INPUTS`` and ``OUTPUTS``; instances hold
    the values a component was declared with."""

    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {}
    INPUTS: ClassVar[dict[str, ChannelParameter]] = {}
    OUTPUTS: ClassVar[dict[str, ChannelParameter]] = {}

    def __init__(self, **kwargs: Any) -> None:
        known = {**self.PARAMETERS, **self.INPUTS, **self.OUTPUTS}
        unknown = sorted(set(kwargs) - set(known))
        if unknown:
            raise PipelineDefinitionError(
                f"{type(self).__name__}: unknown argument(s) {unknown}; declared: {sorted(known)}"
            )
        self.exec_properties = {k: v for k, v in kwargs.items() if k in self.PARAMETERS}
        self.inputs = {k: v for k, v in kwargs.items() if k in self.INPUTS}
        self.outputs = {k: v for k, v in kwargs.items() if k in self.OUTPUTS}

    @classmethod
    def penstock_spec(cls) -> _PenstockSpec:
        """The same spec in penstock's terms."""
        return _PenstockSpec(
            inputs={k: InputSpec(p.type, optional=p.optional) for k, p in cls.INPUTS.items()},
            outputs={k: OutputSpec(p.type) for k, p in cls.OUTPUTS.items()},
            parameters={k: Parameter(Any, default=None) if p.optional else Parameter(Any)
                        for k, p in cls.PARAMETERS.items()},
        )


class ExecutorClassSpec:
    """Which executor class runs a component (TFX's ``executor_spec.ExecutorClassSpec``)."""

    def __init__(self, executor_class: type, extra_flags: list[str] | None = None) -> None:
        self.executor_class = executor_class
        self.extra_flags = list(extra_flags or [])


class BeamExecutorSpec(ExecutorClassSpec):
    """An executor class that runs a Beam pipeline (``BaseBeamExecutor``)."""


class BaseExecutor:
    """TFX's executor base class: implement ``Do(input_dict, output_dict, exec_properties)``."""

    class Context:
        def __init__(self, extra_flags: list[str] | None = None, tmp_dir: str | None = None,
                     unique_id: str | None = None, beam_pipeline_args: list[str] | None = None,
                     **_: Any) -> None:
            self.extra_flags = list(extra_flags or [])
            self.tmp_dir = tmp_dir
            self.unique_id = unique_id
            self.beam_pipeline_args = list(beam_pipeline_args or [])

        def get_tmp_path(self) -> str:
            return os.path.join(self.tmp_dir or "/tmp", str(self.unique_id or ""), "")

    def __init__(self, context: BaseExecutor.Context | None = None) -> None:
        self._context = context
        self._beam_pipeline_args = list(context.beam_pipeline_args) if context else []

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],
           exec_properties: dict[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement Do(input_dict, output_dict, exec_properties)")

    def _get_tmp_dir(self) -> str:
        path = self._context.get_tmp_path() if self._context else os.path.join("/tmp", "")
        os.makedirs(path, exist_ok=True)
        return path

    def _log_startup(self, inputs: dict[str, Any], outputs: dict[str, Any], exec_properties: dict[str, Any]) -> None:
        import logging

        logging.getLogger(type(self).__module__).info(
            "starting %s: inputs %s, outputs %s, exec_properties %s", type(self).__name__,
            sorted(inputs), sorted(outputs), exec_properties)


class BaseBeamExecutor(BaseExecutor):
    """An executor whose work runs on Beam: ``self._make_beam_pipeline()`` honours the
    pipeline's ``beam_pipeline_args``."""

    def _make_beam_pipeline(self) -> Any:
        from penstock.beam.pipeline import make_pipeline

        return make_pipeline(self._beam_pipeline_args)


def _exec_property(name: str, value: Any, declared: ExecutionParameter) -> Any:
    """What the executor receives for a declared value: proto messages as TFX's JSON text."""
    if hasattr(value, "DESCRIPTOR") and hasattr(value, "SerializeToString"):
        from google.protobuf import json_format

        return json_format.MessageToJson(value, sort_keys=True, preserving_proto_field_name=True)
    return value


def run_executor_class(executor_class: type, extra_flags: list[str], ctx: Any, spec: _PenstockSpec) -> None:
    """Call a TFX executor class's ``Do`` with the execution's artifacts and properties."""
    context = BaseExecutor.Context(extra_flags=extra_flags, tmp_dir=ctx.tmp_dir, unique_id=str(ctx.execution_id),
                                   beam_pipeline_args=ctx.beam_pipeline_args)
    executor = executor_class(context)
    input_dict = {k: [view(a) for a in ctx.inputs.get(k, [])] for k in spec.inputs}
    output_dict = {k: [view(ctx.outputs[k])] for k in spec.outputs}
    executor.Do(input_dict, output_dict, dict(ctx.parameters))


class BaseComponent(TfxNodeMixin, Component):
    """TFX's ``BaseComponent``: subclasses set ``SPEC_CLASS`` and ``EXECUTOR_SPEC`` and call
    ``super().__init__(spec=SPEC_CLASS(...))``."""

    SPEC_CLASS: ClassVar[type[ComponentSpec]] = ComponentSpec
    EXECUTOR_SPEC: ClassVar[ExecutorClassSpec | None] = None

    def __init__(self, spec: ComponentSpec, custom_executor_spec: ExecutorClassSpec | None = None) -> None:
        if not isinstance(spec, ComponentSpec):
            raise PipelineDefinitionError(f"{type(self).__name__}: spec must be a ComponentSpec, got {spec!r:.80}")
        self.SPEC = type(spec).penstock_spec()  # per instance: the spec class decides it
        self.executor_spec = custom_executor_spec or type(self).EXECUTOR_SPEC
        if self.executor_spec is None:
            raise PipelineDefinitionError(f"{type(self).__name__} defines no EXECUTOR_SPEC")
        kwargs: dict[str, Any] = {}
        for name, value in spec.inputs.items():
            if value is not None:
                kwargs[name] = value
        for name, value in spec.exec_properties.items():
            if value is not None:
                kwargs[name] = _exec_property(name, value, spec.PARAMETERS[name])
        for name, value in spec.outputs.items():
            if value is not None and not isinstance(value, Channel):
                raise PipelineDefinitionError(f"{type(self).__name__}: output {name!r} must be a Channel")
        super().__init__(**kwargs)

    @property
    def USES_BEAM(self) -> bool:  # type: ignore[override]
        return isinstance(self.executor_spec, BeamExecutorSpec)

    def user_code_refs(self) -> list[str]:
        assert self.executor_spec is not None
        try:
            source = inspect.getsourcefile(self.executor_spec.executor_class)
        except TypeError:
            return []
        return [source] if source else []

    def executor_fn(self) -> Callable[..., Any]:
        executor_spec, spec = self.executor_spec, self.SPEC
        assert executor_spec is not None

        def execute(ctx: Any) -> None:
            run_executor_class(executor_spec.executor_class, executor_spec.extra_flags, ctx, spec)

        return execute


class BaseBeamComponent(BaseComponent):
    """A component whose executor runs Beam (``EXECUTOR_SPEC = BeamExecutorSpec(...)``)."""

    def with_beam_pipeline_args(self, args: Any) -> BaseBeamComponent:
        super().with_beam_pipeline_args(args)
        return self
