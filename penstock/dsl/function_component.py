"""``@component``: turn an annotated Python function into a component, as TFX's decorator does.

    @component
    def train(examples: InputArtifact[Examples], model: OutputArtifact[Model],
              epochs: Parameter[int] = 10) -> OutputDict(accuracy=float):
        ...
        return {"accuracy": 0.93}

Input and output artifacts are declared by type, primitive arguments (int, float, str, bool,
list, dict, optionally ``| None``) are parameters, and primitive return values become value
artifacts (Integer, Float, String, Boolean, JsonValue).
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from penstock.dsl.artifact import Artifact
from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec
from penstock.dsl.parameter import Parameter
from penstock.dsl.standard_artifacts import VALUE_ARTIFACT_FOR_TYPE
from penstock.dsl.types import is_parameter_type
from penstock.errors import PipelineDefinitionError, UserCodeError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class _ArtifactMarker:
    direction: str  # "input" | "output"
    type: type[Artifact]


class InputArtifact(Generic[T]):
    """Annotation of a function argument that receives an input artifact: ``InputArtifact[Examples]``."""

    def __class_getitem__(cls, item: Any) -> Any:
        return _ArtifactMarker("input", _artifact_type(item, "InputArtifact"))


class OutputArtifact(Generic[T]):
    """Annotation of a function argument that receives an output artifact to fill: ``OutputArtifact[Model]``."""

    def __class_getitem__(cls, item: Any) -> Any:
        return _ArtifactMarker("output", _artifact_type(item, "OutputArtifact"))


class OutputDict:
    """Return annotation naming primitive outputs: ``-> OutputDict(accuracy=float, steps=int)``."""

    def __init__(self, **outputs: type) -> None:
        for name, kind in outputs.items():
            if kind not in VALUE_ARTIFACT_FOR_TYPE:
                raise PipelineDefinitionError(
                    f"OutputDict: output {name!r} has type {kind!r}; expected one of int, float, str, bool, dict, list"
                )
        self.outputs = outputs


def _artifact_type(item: Any, where: str) -> type[Artifact]:
    if not (isinstance(item, type) and issubclass(item, Artifact)):
        raise PipelineDefinitionError(f"{where}[...] takes an Artifact class, got {item!r}")
    return item


class FunctionComponent(Component):
    """Base class of components made by ``@component``."""

    FUNCTION: typing.ClassVar[Callable[..., Any]]

    def user_code_refs(self) -> list[str]:
        source = inspect.getsourcefile(type(self).FUNCTION)
        return [source] if source else []


def component(
    fn: Callable[..., Any] | None = None, *, version: str = "1"
) -> Any:
    """Decorate a function to make it a component class; call the result to declare an instance."""

    def wrap(func: Callable[..., Any]) -> type[FunctionComponent]:
        return _build(func, version)

    return wrap(fn) if fn is not None else wrap


def _build(func: Callable[..., Any], version: str) -> type[FunctionComponent]:
    name = func.__name__
    try:
        hints = typing.get_type_hints(func)
    except Exception as e:
        raise PipelineDefinitionError(f"@component {name}: cannot resolve annotations: {e}") from None
    signature = inspect.signature(func)
    inputs: dict[str, InputSpec] = {}
    outputs: dict[str, OutputSpec] = {}
    parameters: dict[str, Parameter] = {}
    for arg_name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise PipelineDefinitionError(f"@component {name}: *args/**kwargs are not supported ({arg_name})")
        if arg_name not in hints:
            raise PipelineDefinitionError(f"@component {name}: argument {arg_name!r} needs a type annotation")
        hint = hints[arg_name]
        has_default = param.default is not inspect.Parameter.empty
        if isinstance(hint, _ArtifactMarker):
            if hint.direction == "input":
                if has_default and param.default is not None:
                    raise PipelineDefinitionError(
                        f"@component {name}: input {arg_name!r} may only default to None (optional input)"
                    )
                inputs[arg_name] = InputSpec(hint.type, optional=has_default)
            else:
                outputs[arg_name] = OutputSpec(hint.type)
        else:
            kind = hint.type if isinstance(hint, Parameter) else hint
            if not is_parameter_type(kind):
                raise PipelineDefinitionError(
                    f"@component {name}: argument {arg_name!r} is annotated {kind!r}; use "
                    "InputArtifact[T], OutputArtifact[T], or a primitive type (int, float, str, bool, list, dict)"
                )
            parameters[arg_name] = Parameter(kind, default=param.default) if has_default else Parameter(kind)

    returns = hints.get("return", None)
    value_outputs: dict[str, type] = {}
    if isinstance(signature.return_annotation, OutputDict):
        value_outputs = signature.return_annotation.outputs
    elif isinstance(returns, OutputDict):
        value_outputs = returns.outputs
    elif returns in VALUE_ARTIFACT_FOR_TYPE:
        value_outputs = {"output": returns}
    elif returns not in (None, type(None)):
        raise PipelineDefinitionError(
            f"@component {name}: return annotation {returns!r} is not supported; use OutputDict(name=type) "
            "or a primitive type"
        )
    for out_name, kind in value_outputs.items():
        if out_name in outputs or out_name in inputs or out_name in parameters:
            raise PipelineDefinitionError(f"@component {name}: output {out_name!r} clashes with an argument")
        outputs[out_name] = OutputSpec(VALUE_ARTIFACT_FOR_TYPE[kind])

    spec = ComponentSpec(inputs=inputs, outputs=outputs, parameters=parameters)
    executor = _make_executor(func, spec, value_outputs)
    cls = type(
        name,
        (FunctionComponent,),
        {
            "SPEC": spec,
            "EXECUTOR": executor,
            "FUNCTION": staticmethod(func),
            "VERSION": version,
            "__module__": func.__module__,
            "__qualname__": func.__qualname__,
            "__doc__": func.__doc__,
        },
    )
    return cls


def _make_executor(
    func: Callable[..., Any], spec: ComponentSpec, value_outputs: dict[str, type]
) -> Callable[..., Any]:
    def execute(ctx: Any) -> None:
        kwargs: dict[str, Any] = {}
        for key in spec.inputs:
            artifacts = ctx.inputs.get(key) or []
            kwargs[key] = artifacts[0] if artifacts else None
        for key in spec.outputs:
            if key not in value_outputs:
                kwargs[key] = ctx.outputs[key]
        kwargs.update(ctx.parameters)
        result = func(**kwargs)
        if not value_outputs:
            return
        if not isinstance(result, dict):
            if len(value_outputs) == 1 and "output" in value_outputs:
                result = {"output": result}
            else:
                raise UserCodeError(
                    f"{func.__qualname__} must return a dict with keys {sorted(value_outputs)}, got {type(result).__name__}"
                )
        missing = set(value_outputs) - set(result)
        if missing:
            raise UserCodeError(f"{func.__qualname__} did not return outputs {sorted(missing)}")
        for key, kind in value_outputs.items():
            value = result[key]
            if not isinstance(value, kind) and not (kind is float and isinstance(value, int)):
                raise UserCodeError(
                    f"{func.__qualname__} returned {key}={value!r}, expected {kind.__name__}"
                )
            ctx.outputs[key].value = value

    return execute
