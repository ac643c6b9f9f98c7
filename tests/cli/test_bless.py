"""``penstock bless --force``: recorded in ML Metadata with who/when/why, and seen by the resolver."""

from __future__ import annotations

import getpass
import json
import os
import subprocess

import pytest

from penstock.dsl.channel import Channel
from penstock.dsl.function_component import InputArtifact, OutputArtifact, component
from penstock.dsl.pipeline import Pipeline
from penstock.dsl.resolver import LatestBlessedModel, Resolver
from penstock.dsl.standard_artifacts import Model, ModelBlessing
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.local.runner import LocalRunner
from tests.conftest import PENSTOCK, PROJECT_ROOT


@component
def make_model(model: OutputArtifact[Model]):
    with open(os.path.join(model.uri, "weights"), "w") as f:
        f.write("w")


@component
def judge(model: InputArtifact[Model], blessing: OutputArtifact[ModelBlessing], blessed: int = 0):
    blessing.set_property("blessed", blessed)
    blessing.set_property("model_id", model.id)
    blessing.custom_properties["explanation"] = "not blessed: binary_accuracy on slice Overall: 0.4 < 0.6"


def _resolved_model_id(tmp_path):
    resolver = Resolver(LatestBlessedModel(), model=Channel(Model), model_blessing=Channel(ModelBlessing))
    pipeline = Pipeline("p", [resolver], pipeline_root=str(tmp_path / "root"), metadata=str(tmp_path / "m.sqlite"))
    result = LocalRunner().run(pipeline)
    model = result.outputs["Resolver"].get("model")
    return model.id if model is not None else None


@pytest.fixture()
def unblessed(tmp_path):
    """A pipeline run whose model the 'evaluator' refused."""
    producer = make_model()
    verdict = judge(model=producer.outputs["model"])
    pipeline = Pipeline("p", [producer, verdict], pipeline_root=str(tmp_path / "root"),
                        metadata=str(tmp_path / "m.sqlite"))
    result = LocalRunner().run(pipeline)
    assert result.succeeded, result.errors
    return result


def _bless(tmp_path, *args):
    return subprocess.run(
        [*PENSTOCK, "bless", *args, "--metadata", str(tmp_path / "m.sqlite")],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
    )


def test_forced_blessing_is_recorded_and_makes_the_model_the_resolvers_baseline(tmp_path, unblessed):
    model = unblessed.outputs["make_model"]["model"]
    refused = unblessed.outputs["judge"]["blessing"]
    assert _resolved_model_id(tmp_path) is None  # nothing blessed yet

    done = _bless(tmp_path, "--force", str(refused.id), "--reason", "slice b is known noisy; approved by QA")
    assert done.returncode == 0, done.stderr
    assert f"model {model.id} blessed by {getpass.getuser()}" in done.stdout

    store = MetadataStore(unblessed_store_config(tmp_path))
    blessings = [b for b in store.live_artifacts_of_type("p", ModelBlessing) if b.id != refused.id]
    [forced] = blessings
    assert forced.get_property("blessed") == 1 and forced.get_property("model_id") == model.id
    assert forced.custom_properties["forced_by"] == getpass.getuser()
    assert forced.custom_properties["forced_reason"] == "slice b is known noisy; approved by QA"
    assert forced.custom_properties["forced_at"][:4].isdigit()
    assert forced.custom_properties["overrides_blessing_id"] == refused.id
    assert "0.4 < 0.6" in forced.custom_properties["explanation"]  # the overridden verdict stays visible
    assert json.load(open(os.path.join(forced.uri, "blessing.json")))["forced_reason"].startswith("slice b")
    # The original verdict is untouched.
    assert store.get_artifact(refused.id).get_property("blessed") == 0

    # Recorded as an execution of its own, consuming the model and the overridden blessing.
    [(kind, execution_id)] = [e for e in store.artifact_events(forced.id)]
    assert kind == "OUTPUT"
    execution = store.get_execution(execution_id)
    assert execution.type_name == "penstock.ManualBlessing"
    assert execution.properties["reason"].startswith("slice b") and execution.properties["forced_by"] == getpass.getuser()
    inputs, _ = store.execution_artifacts(execution_id)
    assert [a.id for a in inputs["model"]] == [model.id]
    assert [a.id for a in inputs["overridden_blessing"]] == [refused.id]

    assert _resolved_model_id(tmp_path) == model.id


def test_a_model_id_works_too_and_mistakes_are_refused(tmp_path, unblessed):
    model = unblessed.outputs["make_model"]["model"]
    no_force = _bless(tmp_path, str(model.id), "--reason", "x")
    assert no_force.returncode != 0 and "--force" in no_force.stderr
    missing = _bless(tmp_path, "--force", "424242", "--reason", "x")
    assert missing.returncode == 1 and "no artifact with id 424242" in missing.stderr

    from penstock.cli.bless import force_bless

    store = MetadataStore(unblessed_store_config(tmp_path))
    forced = force_bless(store, model.id, "hotfix", user="alice")
    assert forced.custom_properties["forced_by"] == "alice"
    assert "overrides_blessing_id" not in forced.custom_properties
    assert _resolved_model_id(tmp_path) == model.id

    from penstock.errors import PenstockError

    with pytest.raises(PenstockError, match="not a Model or a ModelBlessing"):
        force_bless(store, _an_examples_id(store), "x")


def _an_examples_id(store):
    """The id of an artifact that is neither a Model nor a ModelBlessing: the run has none, so
    make one."""
    from penstock.dsl.artifact import ArtifactState
    from penstock.dsl.standard_artifacts import Examples

    other = Examples("/tmp/nowhere", state=ArtifactState.LIVE)
    store.put_artifact(other)
    return other.id


def unblessed_store_config(tmp_path):
    from penstock.metadata import connection

    return connection.sqlite(str(tmp_path / "m.sqlite"))
