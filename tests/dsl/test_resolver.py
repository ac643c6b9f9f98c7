"""Resolvers pick existing artifacts from ML Metadata: latest artifact, latest blessed model."""

from __future__ import annotations

import pytest

from penstock.dsl.channel import Channel
from penstock.dsl.function_component import InputArtifact, OutputArtifact, component
from penstock.dsl.pipeline import Pipeline
from penstock.dsl.resolver import LatestArtifact, LatestBlessedModel, Resolver
from penstock.dsl.standard_artifacts import Model, ModelBlessing
from penstock.errors import PipelineDefinitionError
from penstock.orchestrators.local.runner import LocalRunner

SEEN: dict[str, object] = {}


@component
def train(model: OutputArtifact[Model], quality: int = 0):
    model.custom_properties["quality"] = quality


@component
def judge(model: InputArtifact[Model], blessing: OutputArtifact[ModelBlessing], threshold: int = 5):
    blessing.set_property("model_id", model.id)
    blessing.set_property("blessed", int(model.custom_properties["quality"] >= threshold))


@component
def consume(model: OutputArtifact[Model], baseline: InputArtifact[Model] = None):
    SEEN["baseline"] = None if baseline is None else baseline.custom_properties["quality"]


def _pipeline(tmp_path, quality: int) -> Pipeline:
    trainer = train(quality=quality)
    verdict = judge(model=trainer.outputs.model)
    baseline = Resolver(LatestBlessedModel(), id="baseline", model=Channel(Model), model_blessing=Channel(ModelBlessing))
    baseline.add_upstream(verdict)  # resolve after this run's verdict is recorded
    user = consume(baseline=baseline.outputs.model)
    return Pipeline("res", [trainer, verdict, baseline, user], pipeline_root=str(tmp_path / "r"), metadata=str(tmp_path / "m.sqlite"))


def test_latest_blessed_model_skips_unblessed_newer_models(tmp_path):
    LocalRunner().run(_pipeline(tmp_path, quality=1))  # not blessed
    assert SEEN["baseline"] is None
    LocalRunner().run(_pipeline(tmp_path, quality=7))  # blessed
    assert SEEN["baseline"] == 7
    LocalRunner().run(_pipeline(tmp_path, quality=9))  # blessed, newer
    assert SEEN["baseline"] == 9
    LocalRunner().run(_pipeline(tmp_path, quality=2))  # newest, but not blessed
    assert SEEN["baseline"] == 9


def test_latest_artifact_and_wiring_checks(tmp_path):
    first = LocalRunner().run(_pipeline(tmp_path, quality=3))
    second = LocalRunner().run(_pipeline(tmp_path, quality=4))
    latest = Resolver(LatestArtifact(), id="latest", model=Channel(Model))
    pipeline = Pipeline("res", [latest], pipeline_root=str(tmp_path / "r"), metadata=str(tmp_path / "m.sqlite"))
    result = LocalRunner().run(pipeline)
    picked = result.outcomes["latest"].outputs["model"]
    assert [a.id for a in picked] == [second.outputs["train"]["model"].id]
    assert picked[0].id != first.outputs["train"]["model"].id
    with pytest.raises(PipelineDefinitionError, match="LatestBlessedModel needs input 'model_blessing'"):
        Resolver(LatestBlessedModel(), model=Channel(Model))
