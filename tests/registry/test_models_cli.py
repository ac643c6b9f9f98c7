"""``penstock models`` on a store of real runs: several models and versions, an Evaluator's
blessing with per-slice metrics, a manual blessing, a warm-started version and a rollback."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import PENSTOCK, PROJECT_ROOT
from tests.registry import _store

pytestmark = pytest.mark.slow  # the session's registry store runs the penguin pipeline

# Runs the CLI in-process and fails if the command imported TensorFlow.
NO_TENSORFLOW = (
    "import sys\n"
    "from penstock.cli import _run\n"
    "code = _run(sys.argv[1:])\n"
    "assert 'tensorflow' not in sys.modules, 'the registry imported TensorFlow'\n"
    "sys.exit(code)\n"
)


def _penstock(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*PENSTOCK[:1], "-c", NO_TENSORFLOW, *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=120, env=_env())
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": PROJECT_ROOT, "COLUMNS": "200"}


def test_models_lists_every_model_with_its_versions_and_what_serves(registry):
    rows = json.loads(_penstock("models", "-m", registry.metadata, "--json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert sorted(by_name) == ["penguin", "penguin-edge"]
    assert by_name["penguin"]["versions"] == [1, 2, 3] and by_name["penguin"]["blessed"] == [1, 2, 3]
    assert by_name["penguin"]["served"] == [1] and by_name["penguin"]["pinned"]  # the rollback
    assert by_name["penguin-edge"]["versions"] == [1] and by_name["penguin-edge"]["served"] == [1]
    text = _penstock("models", "-m", registry.metadata).stdout
    assert "penguin-edge" in text and "1 (pinned)" in text


def test_one_model_shows_each_versions_push_blessing_data_code_and_parameters(registry):
    data = json.loads(_penstock("models", "penguin", "-m", registry.metadata, "--json").stdout)
    versions = {v["version"]: v for v in data["versions"]}
    assert list(versions) == [3, 2, 1]  # newest first
    first, warm, forced = versions[1], versions[2], versions[3]
    assert first["pushed_by_run"] == registry.run_ids[0] and warm["pushed_by_run"] == registry.run_ids[1]
    assert forced["pushed_by_run"] == registry.run_ids[3]  # the push-only run
    assert forced["model"]["trained_by_run"] == registry.run_ids[2]

    (evaluator,) = first["blessings"]
    assert evaluator["kind"] == "evaluator" and evaluator["blessed"]
    rows = {(r["metric"], r["slice"]): r for r in evaluator["evaluation"]["metrics"]}
    overall = rows[("sparse_categorical_accuracy", "Overall")]
    assert overall["lower"] == 0.6 and overall["passed"] and overall["value"] >= 0.6
    assert {s for m, s in rows if m == "sparse_categorical_accuracy"} == {"Overall", "species:0", "species:1",
                                                                           "species:2"}
    refused, manual = sorted(forced["blessings"], key=lambda b: b["kind"] != "evaluator")
    assert not refused["blessed"] and "vs the baseline" in refused["explanation"]
    assert any(not r["passed"] for r in refused["evaluation"]["metrics"] if r["has_threshold"])
    assert manual == {**manual, "kind": "manual", "blessed": True, "by": _store.BLESSED_BY,
                      "reason": _store.MANUAL_REASON, "artifact_id": registry.manual_blessing_id}
    assert forced["infra_blessed"] is None and first["infra_blessed"] is True

    (source,) = first["data"]
    assert source["component"] == "CsvExampleGen" and source["span"] == 0
    assert source["row_counts"] == {"train": 214, "eval": 120}
    assert source["input_fingerprint"]["files"].startswith("1 file(s)")
    assert set(first["code"]) == {"Transform", "Trainer"}
    assert first["code"]["Trainer"] == first["code"]["Transform"]  # one module file for both
    assert first["hyperparameters"] == {"hidden_units": 8}
    assert first["training_parameters"]["train_args"] == {"num_steps": 100}
    assert warm["training_parameters"]["train_args"] == {"num_steps": 150}
    assert first["base_model"] is None and warm["base_model"]["id"] == registry.model_ids[0]

    state = data["serving_dir"]
    assert state["pinned"] and state["served"] == [1] and state["on_disk"] == [1, 2, 3]
    (rollback,) = data["rollbacks"]
    assert rollback["to"] == "1" and rollback["reason"] == _store.ROLLBACK_REASON and rollback["by"] == _store.BLESSED_BY
    assert "serving 3" in rollback["before"]

    text = _penstock("models", "penguin", "-m", registry.metadata).stdout
    assert f"blessed by hand by {_store.BLESSED_BY}" in text and _store.MANUAL_REASON in text
    assert f"base model (warm start): #{registry.model_ids[0]} (penguin version 1)" in text
    assert "version 1 (serving)" in text and "pinned by a rollback" in text
    assert "sparse_categorical_accuracy" in text and ">= 0.6" in text


def test_diff_says_what_changed_between_two_versions(registry):
    diff = json.loads(_penstock("models", "diff", "penguin:1", "penguin:2", "-m", registry.metadata, "--json").stdout)
    assert diff["training_parameters"] == [{"key": "train_args.num_steps", "a": 100, "b": 150}]
    assert diff["hyperparameters"] == [] and diff["code"] == [] and diff["data"]["same"]
    assert diff["base_model"]["a"] is None and diff["base_model"]["b"]["id"] == registry.model_ids[0]
    worse = json.loads(_penstock("models", "diff", "penguin", "2", "3", "-m", registry.metadata, "--json").stdout)
    overall = next(r for r in worse["metrics"] if r["metric"] == "sparse_categorical_accuracy" and r["slice"] == "Overall")
    assert overall["delta"] == overall["b"] - overall["a"] < 0 and overall["a_passed"]
    assert any(r["b_passed"] is False for r in worse["metrics"])  # the slices the refused model failed
    text = _penstock("models", "diff", "penguin:2", "penguin:3", "-m", registry.metadata).stdout
    assert "train_args.num_steps: 150 -> 1" in text and "code: unchanged" in text


def test_unknown_models_and_versions_get_a_message(registry):
    done = _penstock("models", "nope", "-m", registry.metadata, check=False)
    assert done.returncode == 1 and "no pushed versions of model 'nope'" in done.stderr and "penguin-edge" in done.stderr
    done = _penstock("models", "diff", "penguin:1", "penguin:9", "-m", registry.metadata, check=False)
    assert done.returncode == 1 and "no pushed version 9" in done.stderr
