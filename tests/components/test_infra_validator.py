"""InfraValidator: a real penstock model server on loopback, REST :predict with b64 tf.Examples,
answers compared with the in-process SavedModel call."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from penstock.dsl.channel import Channel
from penstock.dsl.standard_artifacts import Examples, Model
from penstock.errors import PipelineDefinitionError
from tests.components import _model_fixtures as mf


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("infra")
    mf.build_model(str(root / "good"), slope=10.0)
    mf.build_noisy_model(str(root / "noisy"))
    shutil.copytree(root / "good", root / "broken")
    (root / "broken" / "Format-Serving" / "saved_model.pb").write_bytes(b"not a SavedModel")
    return {
        "root": root,
        "examples": mf.live(Examples, mf.write_examples(str(root / "examples")), 3),
        **{name: mf.live(Model, str(root / name), i) for i, name in enumerate(("good", "noisy", "broken"), 10)},
    }


def validate(world, tmp_path, model, **params):
    from penstock.components.infra_validator.component import InfraValidator

    component = InfraValidator(model=Channel(Model), examples=Channel(Examples), **params)
    inputs = {"model": [world[model]], "examples": [world["examples"]]}
    return mf.run_executor(component, str(tmp_path), inputs)["blessing"]


def test_a_model_that_serves_exactly_like_itself_is_blessed(world, tmp_path):
    blessing = validate(world, tmp_path, "good", batch_size=3)
    assert blessing.get_property("blessed") == 1, blessing.custom_properties["explanation"]
    assert blessing.get_property("model_id") == 10
    report = json.load(open(os.path.join(blessing.uri, "infra_validation.json")))
    assert report["examples"] == len(mf.EVAL_ROWS) and report["requests"] == 3  # 8 examples, 3 per request
    assert report["max_abs_diff"] <= 1e-5
    assert "REST :predict requests all answered" in blessing.custom_properties["explanation"]


def test_answers_that_differ_from_the_in_process_call_are_not_blessed(world, tmp_path):
    blessing = validate(world, tmp_path, "noisy")
    assert blessing.get_property("blessed") == 0
    explanation = blessing.custom_properties["explanation"]
    assert "vs in-process" in explanation and "> 1e-05" in explanation


def test_a_model_that_does_not_load_is_not_blessed(world, tmp_path):
    blessing = validate(world, tmp_path, "broken", load_timeout_seconds=60.0)
    assert blessing.get_property("blessed") == 0
    assert "did not load" in blessing.custom_properties["explanation"]


def test_bad_parameters_fail_at_declaration():
    from penstock.components.infra_validator.component import InfraValidator

    with pytest.raises(PipelineDefinitionError, match="num_examples must be >= 1"):
        InfraValidator(model=Channel(Model), examples=Channel(Examples), num_examples=0)
