"""Wiring mistakes fail at declaration, naming the component and the argument."""

from __future__ import annotations

import pytest

from penstock.dsl.channel import Channel
from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.pipeline import Pipeline
from penstock.dsl.standard_artifacts import Examples, ExampleStatistics, Model, Schema
from penstock.errors import PipelineDefinitionError


class Producer(Component):
    SPEC = ComponentSpec(outputs={"examples": OutputSpec(Examples), "schema": OutputSpec(Schema)})
    EXECUTOR = "builtins:print"


class Consumer(Component):
    SPEC = ComponentSpec(
        inputs={"examples": InputSpec(Examples), "schema": InputSpec(Schema, optional=True)},
        outputs={"statistics": OutputSpec(ExampleStatistics)},
        parameters={"splits": Parameter(list[str], default=["train"]), "steps": Parameter(int)},
    )
    EXECUTOR = "builtins:print"


def test_valid_wiring_binds_inputs_and_defaults():
    producer = Producer()
    consumer = Consumer(examples=producer.outputs["examples"], steps=3)
    assert consumer.inputs["examples"].producer is producer
    assert consumer.parameters == {"steps": 3, "splits": ["train"]}
    assert consumer.outputs.statistics.type is ExampleStatistics
    assert consumer.upstream_nodes() == [producer]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: Consumer(examples=p.outputs["schema"], steps=1), "Consumer: input 'examples' expects Examples, got Producer.outputs['schema']"),
        (lambda p: Consumer(steps=1), "Consumer: required input 'examples' (Examples) is missing"),
        (lambda p: Consumer(examples=p.outputs["examples"]), "Consumer: required parameter 'steps' (int) is missing"),
        (lambda p: Consumer(examples=p.outputs["examples"], steps="3"), "Consumer: parameter 'steps' expects int, got str '3'"),
        (lambda p: Consumer(examples=p.outputs["examples"], steps=1, splits=[1]), "Consumer: parameter 'splits' expects list[str]"),
        (lambda p: Consumer(examples=p.outputs["examples"], steps=1, step=2), "Consumer: unknown argument 'step'"),
        (lambda p: Consumer(examples="data/", steps=1), "Consumer: input 'examples' expects a channel of Examples"),
        (lambda p: Consumer(examples=p.outputs["examples"], steps=True), "parameter 'steps' expects int, got bool"),
    ],
)
def test_wiring_errors_name_component_and_argument(make, expected):
    with pytest.raises(PipelineDefinitionError) as info:
        make(Producer())
    assert expected in str(info.value)


def test_unknown_output_names_the_outputs():
    with pytest.raises(KeyError, match="Producer has no output 'model'; outputs: examples, schema"):
        Producer().outputs["model"]


def test_duplicate_ids_and_missing_members_and_cycles():
    producer = Producer()
    consumer = Consumer(examples=producer.outputs["examples"], steps=1)
    with pytest.raises(PipelineDefinitionError, match="duplicate component id 'Producer'"):
        Pipeline("p", [producer, Producer(), consumer])
    with pytest.raises(PipelineDefinitionError, match="Consumer input 'examples' comes from Producer, which is not in"):
        Pipeline("p", [consumer])
    a, b = Producer(id="a"), Producer(id="b")
    a.add_upstream(b)
    b.add_upstream(a)
    with pytest.raises(PipelineDefinitionError, match=r"has a cycle: (a -> b -> a|b -> a -> b)"):
        Pipeline("p", [a, b])


def test_topological_order_and_invalid_names():
    producer = Producer()
    consumer = Consumer(examples=producer.outputs["examples"], steps=1)
    assert [n.id for n in Pipeline("p", [consumer, producer]).order] == ["Producer", "Consumer"]
    with pytest.raises(PipelineDefinitionError, match="component id 'bad id' is invalid"):
        Producer(id="bad id")
    with pytest.raises(PipelineDefinitionError, match="pipeline name"):
        Pipeline("no spaces allowed", [producer])
    with pytest.raises(PipelineDefinitionError, match="is not a component"):
        Pipeline("p", [Producer])  # type: ignore[list-item]


def test_unbound_channel_type_must_be_artifact():
    assert Channel(Model).describe() == "Channel(Model)"
    with pytest.raises(TypeError):
        Channel(int)  # type: ignore[arg-type]


def test_the_old_import_paths_still_work_for_one_release():
    """The DSL moved from penstock.pipelines to penstock.dsl (and the runtime's part to
    penstock.runtime); pipeline files written against the old paths keep working."""
    import penstock
    from penstock.pipelines.artifact import Artifact
    from penstock.pipelines.cache import CacheKey, CachePolicy
    from penstock.pipelines.channel import Channel
    from penstock.pipelines.component import Component, ComponentSpec, OutputSpec
    from penstock.pipelines.context import ExecutorContext
    from penstock.pipelines.function_component import InputArtifact, OutputArtifact, component
    from penstock.pipelines.pipeline import Pipeline
    from penstock.pipelines.resolver import LatestBlessedModel, Resolver
    from penstock.pipelines.standard_artifacts import Examples, Model

    assert (Pipeline, Component, Channel, Resolver, Artifact, component) == (
        penstock.Pipeline, penstock.Component, penstock.Channel, penstock.Resolver, penstock.Artifact, penstock.component)
    assert (Examples, Model) == (penstock.artifacts.Examples, penstock.artifacts.Model)
    assert all((CacheKey, CachePolicy, ComponentSpec, OutputSpec, ExecutorContext, InputArtifact, OutputArtifact,
                LatestBlessedModel))
