"""The penguin example end to end from the CLI: a good model is pushed; a worse one is refused,
and the refusal says which metric on which slice failed which threshold."""

from __future__ import annotations

import os
import subprocess

import pytest

from penstock.dsl.standard_artifacts import InfraBlessing, Model, ModelBlessing, PushedModel
from penstock.metadata import connection
from penstock.metadata.store import MetadataStore
from tests.conftest import PENSTOCK, PROJECT_ROOT

PIPELINE_FILE = os.path.join(PROJECT_ROOT, "examples", "penguin", "pipeline.py")


def _run(home, **env):
    done = subprocess.run(
        [*PENSTOCK, "run", PIPELINE_FILE],
        capture_output=True, text=True, cwd=str(home), timeout=600,
        env={**os.environ, "PENSTOCK_HOME": str(home), **env},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _newest(store, cls):
    return max(store.live_artifacts_of_type("penguin", cls), key=lambda a: a.id)


@pytest.mark.slow
def test_good_model_is_pushed_then_a_worse_one_is_refused_with_the_reason(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _run(home)
    store = MetadataStore(connection.sqlite(str(home / "metadata.sqlite")))
    first_model = _newest(store, Model)
    blessing = _newest(store, ModelBlessing)
    assert blessing.get_property("blessed") == 1 and blessing.get_property("model_id") == first_model.id
    assert "change thresholds skipped" in blessing.custom_properties["explanation"]  # no baseline yet
    assert _newest(store, InfraBlessing).get_property("blessed") == 1
    pushed = _newest(store, PushedModel)
    assert pushed.get_property("pushed") == 1 and pushed.get_property("pushed_version") == 1
    version_dir = home / "serving" / "penguin" / "1"
    assert pushed.custom_properties["pushed_destination"] == str(version_dir)
    assert (version_dir / "saved_model.pb").is_file() and (version_dir / "variables" / "variables.index").is_file()
    assert 'name: "penguin"' in (home / "serving" / "models.config").read_text()

    _run(home, PENGUIN_TRAIN_STEPS="1")
    store = MetadataStore(connection.sqlite(str(home / "metadata.sqlite")))
    worse_model = _newest(store, Model)
    assert worse_model.id != first_model.id
    refused = _newest(store, ModelBlessing)
    assert refused.get_property("blessed") == 0 and refused.get_property("model_id") == worse_model.id
    assert refused.custom_properties["baseline_model_id"] == first_model.id  # found by the resolver
    explanation = refused.custom_properties["explanation"]
    assert "sparse_categorical_accuracy on slice Overall" in explanation
    assert "vs the baseline" in explanation
    not_pushed = _newest(store, PushedModel)
    assert not_pushed.get_property("pushed") == 0
    assert "not blessed by the Evaluator" in not_pushed.custom_properties["reason"]
    assert "sparse_categorical_accuracy on slice" in not_pushed.custom_properties["reason"]
    assert sorted(os.listdir(home / "serving" / "penguin")) == ["1"]
