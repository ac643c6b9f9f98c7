"""The penguin example end to end from the CLI: a good model is pushed; a worse one is refused,
and the refusal says which metric on which slice failed which threshold."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from penstock.dsl.standard_artifacts import Examples, InfraBlessing, Model, ModelBlessing, PushedModel
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


@pytest.mark.slow
def test_the_whole_pipeline_runs_on_the_dask_runner(tmp_path):
    """Every Beam-based component (ExampleGen, StatisticsGen, Transform, Evaluator) on one shared
    two-worker LocalCluster, user module code included (it travels to the workers by value)."""
    home = tmp_path / "home"
    home.mkdir()
    pipeline_file = tmp_path / "dask_pipeline.py"
    runs_log = tmp_path / "dask_runs.txt"
    pipeline_file.write_text(
        "import sys\n"
        f"sys.path.insert(0, {PROJECT_ROOT!r})\n"
        "from penstock.integrations.dask import runner as _beam_dask\n"
        "from examples.penguin.pipeline import create_pipeline\n"
        "run_pipeline = _beam_dask.DaskRunner.run_pipeline\n"
        "def logged(self, pipeline, options):\n"  # which pipelines the DaskRunner ran
        f"    with open({str(runs_log)!r}, 'a') as log:\n"
        "        log.write(sorted(t.full_label for t in pipeline.transforms_stack[0].parts)[0] + '\\n')\n"
        "    return run_pipeline(self, pipeline, options)\n"
        "_beam_dask.DaskRunner.run_pipeline = logged\n"
        "pipeline = create_pipeline(beam_pipeline_args=['--runner=DaskRunner', '--dask_local_workers=2'])\n"
    )
    done = subprocess.run(
        [*PENSTOCK, "run", str(pipeline_file)],
        capture_output=True, text=True, cwd=str(home), timeout=600,
        env={**os.environ, "PENSTOCK_HOME": str(home)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "distributed." not in done.stdout + done.stderr  # the cluster's own logs stay quiet
    store = MetadataStore(connection.sqlite(str(home / "metadata.sqlite")))
    examples, = (a for a in store.live_artifacts_of_type("penguin", Examples) if "row_counts" in a.custom_properties)
    counts = json.loads(examples.custom_properties["row_counts"])  # ExampleGen's (Transform's has none)
    assert counts.keys() == {"train", "eval"} and sum(counts.values()) == 334
    assert _newest(store, ModelBlessing).get_property("blessed") == 1
    assert _newest(store, PushedModel).get_property("pushed") == 1
    assert len(runs_log.read_text().splitlines()) >= 4  # ExampleGen, StatisticsGen, Transform, Evaluator
