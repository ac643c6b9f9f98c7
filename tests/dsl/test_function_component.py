"""@component turns annotated functions into components with typed inputs, outputs, parameters."""

from __future__ import annotations

from typing import Optional

import pytest

import penstock
from penstock import Component, ComponentSpec, OutputSpec
from penstock.dsl.function_component import InputArtifact, OutputArtifact, OutputDict, Parameter, component
from penstock.dsl.standard_artifacts import Examples, Float, Integer, Model
from penstock.errors import PipelineDefinitionError


@component
def make_examples(examples: OutputArtifact[Examples], rows: Parameter[int] = 10) -> OutputDict(count=int, ratio=float):
    return {"count": rows, "ratio": 0.5}


@component
def train(examples: InputArtifact[Examples], model: OutputArtifact[Model], base: InputArtifact[Model] = None,
          epochs: int = 1, name: str = "m"):
    pass


def test_spec_from_annotations():
    spec = train.SPEC
    assert set(spec.inputs) == {"examples", "base"}
    assert spec.inputs["base"].optional and not spec.inputs["examples"].optional
    assert spec.outputs["model"].type is Model
    assert spec.parameters["epochs"].default == 1 and spec.parameters["name"].type is str
    assert make_examples.SPEC.outputs["count"].type is Integer
    assert make_examples.SPEC.outputs["ratio"].type is Float


def test_declaration_is_checked():
    producer = make_examples(rows=5)
    train(examples=producer.outputs.examples, epochs=2)
    with pytest.raises(PipelineDefinitionError, match="train: input 'examples' expects Examples, got make_examples.outputs\\['count'\\]"):
        train(examples=producer.outputs["count"])
    with pytest.raises(PipelineDefinitionError, match="make_examples: parameter 'rows' expects int"):
        make_examples(rows="many")


def test_bad_signatures_fail_clearly():
    with pytest.raises(PipelineDefinitionError, match="argument 'x' needs a type annotation"):
        @component
        def no_hint(x):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(PipelineDefinitionError, match="argument 'x' is annotated"):
        @component
        def odd_type(x: object):
            pass


def test_optional_parameters_in_either_spelling_and_one_parameter_class_for_specs_and_annotations():
    @component
    def tune(examples: OutputArtifact[Examples], limit: int | None = None, tag: Optional[str] = None,
             trials: penstock.Parameter[int] = 3):
        pass

    assert tune(limit=4, tag="a").parameters == {"limit": 4, "tag": "a", "trials": 3}
    assert tune().parameters["limit"] is None
    with pytest.raises(PipelineDefinitionError, match="tune: parameter 'limit' expects int \\| None, got str"):
        tune(limit="four")

    class Custom(Component):  # the same Parameter declares a hand-written component's spec
        SPEC = ComponentSpec(outputs={"out": OutputSpec(Examples)}, parameters={"x": penstock.Parameter(int, default=1)})

    assert Custom().parameters == {"x": 1} and Custom(x=5).parameters == {"x": 5}
    with pytest.raises(PipelineDefinitionError, match="Custom: parameter 'x' expects int"):
        Custom(x="no")
