"""Pusher: blessing gate, TF Serving layout, version numbering, pruning, models.config, atomicity."""

from __future__ import annotations

import os
import threading

import pytest

from penstock.dsl.channel import Channel
from penstock.dsl.standard_artifacts import InfraBlessing, Model, ModelBlessing
from penstock.errors import PipelineDefinitionError
from tests.components import _model_fixtures as mf


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    mf.build_model(str(root / "model"), slope=10.0)
    return mf.live(Model, str(root / "model"), 7)


def _blessing(tmp_path, blessed: int, model_id: int = 7, cls=ModelBlessing, explanation: str = ""):
    artifact = mf.live(cls, str(tmp_path / f"{cls.__name__}-{blessed}"), 70 + blessed, blessed=blessed, model_id=model_id)
    if explanation:
        artifact.custom_properties["explanation"] = explanation
    return artifact


def _pusher(dest, **params):
    from penstock.components.pusher.component import Pusher

    return Pusher(model=Channel(Model), model_blessing=Channel(ModelBlessing), push_destination=str(dest), **params)


def _push(pusher, tmp_path, model, blessing, infra=None):
    inputs = {"model": [model], "model_blessing": [blessing]}
    if infra is not None:
        inputs["infra_blessing"] = [infra]
    return mf.run_executor(pusher, str(tmp_path / "root"), inputs, pipeline_name="penguin")["pushed_model"]


def _retrained(model, n: int):
    """Another model artifact (a new id) with the same files: each push below is a new model."""
    return mf.live(Model, model.uri, 1000 + n)


def _complete(version_dir: str) -> bool:
    variables = os.path.join(version_dir, "variables")
    return (
        os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
        and os.path.isfile(os.path.join(variables, "variables.index"))
        and any(n.startswith("variables.data-") for n in os.listdir(variables))
        and os.path.isdir(os.path.join(version_dir, "assets"))
    )


def test_blessed_model_is_pushed_in_tf_serving_layout_with_increasing_versions(tmp_path, model):
    dest = tmp_path / "serving"
    pusher = _pusher(dest, keep_versions=2)
    blessing = _blessing(tmp_path, 1)
    first = _push(pusher, tmp_path, model, blessing)
    assert first.get_property("pushed") == 1 and first.get_property("pushed_version") == 1
    # model_name defaults to the pipeline name
    assert first.custom_properties["pushed_destination"] == str(dest / "penguin" / "1")
    assert _complete(str(dest / "penguin" / "1"))

    versions = [_push(pusher, tmp_path, _retrained(model, n), _blessing(tmp_path, 1, model_id=1000 + n))
                .get_property("pushed_version") for n in range(3)]
    assert versions == [2, 3, 4]
    # keep_versions=2: only the two newest remain, and no staging/deleting leftovers either.
    assert sorted(os.listdir(dest / "penguin")) == ["3", "4"]

    config = (dest / "models.config").read_text()
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    parsed = text_format.Parse(config, model_server_config_pb2.ModelServerConfig())
    [entry] = parsed.model_config_list.config
    assert (entry.name, entry.base_path, entry.model_platform) == ("penguin", str(dest / "penguin"), "tensorflow")

    # A second model name joins the same models.config; the first entry is kept.
    _push(_pusher(dest, model_name="other"), tmp_path, model, blessing)
    parsed = text_format.Parse((dest / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    assert [c.name for c in parsed.model_config_list.config] == ["penguin", "other"]


def test_numbering_continues_after_existing_versions(tmp_path, model):
    dest = tmp_path / "serving"
    (dest / "m" / "41").mkdir(parents=True)  # e.g. pushed by an earlier pipeline or by hand
    pushed = _push(_pusher(dest, model_name="m", keep_versions=0), tmp_path, model, _blessing(tmp_path, 1))
    assert pushed.get_property("pushed_version") == 42


def test_unblessed_model_is_not_pushed_and_says_why(tmp_path, model):
    dest = tmp_path / "serving"
    blessing = _blessing(tmp_path, 0, explanation="binary_accuracy on slice Overall: 0.375 < lower bound 0.6")
    pushed = _push(_pusher(dest), tmp_path, model, blessing)
    assert pushed.get_property("pushed") == 0
    assert pushed.get_property("pushed_version") is None
    assert "not blessed by the Evaluator" in pushed.custom_properties["reason"]
    assert "0.375 < lower bound 0.6" in pushed.custom_properties["reason"]
    assert not (dest / "penguin").exists()


def test_failed_infra_validation_blocks_the_push(tmp_path, model):
    dest = tmp_path / "serving"
    from penstock.components.pusher.component import Pusher

    pusher = Pusher(model=Channel(Model), model_blessing=Channel(ModelBlessing),
                    infra_blessing=Channel(InfraBlessing), push_destination=str(dest))
    infra = _blessing(tmp_path, 0, cls=InfraBlessing, explanation="request 3 failed: HTTP 500")
    pushed = _push(pusher, tmp_path, model, _blessing(tmp_path, 1), infra)
    assert pushed.get_property("pushed") == 0
    assert "failed infra validation" in pushed.custom_properties["reason"]
    assert "HTTP 500" in pushed.custom_properties["reason"]


def test_blessing_of_another_model_is_a_wiring_error(tmp_path, model):
    with pytest.raises(PipelineDefinitionError, match="judges model 99"):
        _push(_pusher(tmp_path / "serving"), tmp_path, model, _blessing(tmp_path, 1, model_id=99))


def test_unwritable_destination_fails_at_declaration(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(PipelineDefinitionError, match="push_destination .* a file, not a directory"):
        _pusher(blocker / "serving")
    for refused in ("a/b", "taxi..v2", "..", "with space", "a:b"):
        with pytest.raises(PipelineDefinitionError, match=f"model_name '{refused}' is not a name the model server accepts"):
            _pusher(tmp_path / "serving", model_name=refused)
    _pusher(tmp_path / "serving", model_name="taxi.v2-final_1")
    with pytest.raises(PipelineDefinitionError, match="keep_versions"):
        _pusher(tmp_path / "serving", keep_versions=-1)


def test_default_destination_is_under_penstock_home(penstock_home):
    assert _pusher_default().parameters["push_destination"] == str(penstock_home / "serving")


def _pusher_default():
    from penstock.components.pusher.component import Pusher

    return Pusher(model=Channel(Model), model_blessing=Channel(ModelBlessing))


@pytest.fixture(scope="module")
def bulky_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("bulky")
    mf.build_bulky_saved_model(str(root / "model"))
    return mf.live(Model, str(root / "model"), 7)


def test_a_polling_reader_never_sees_a_partial_version(tmp_path, bulky_model):
    """A thread lists the versions as TF Serving does while pushes (and pruning) happen; every
    version it sees must be complete, unless it vanished (pruned) by the time it is checked."""
    dest = tmp_path / "serving"
    model_dir = dest / "penguin"
    source = bulky_model.uri + "/Format-Serving"
    manifest = {
        os.path.relpath(os.path.join(d, f), source): os.path.getsize(os.path.join(d, f))
        for d, _, files in os.walk(source) for f in files
    }
    assert max(manifest.values()) > 10_000_000

    def complete(version_dir: str) -> bool:
        return all(
            os.path.isfile(os.path.join(version_dir, rel)) and os.path.getsize(os.path.join(version_dir, rel)) == size
            for rel, size in manifest.items()
        ) and os.path.isdir(os.path.join(version_dir, "assets"))

    pusher = _pusher(dest, keep_versions=2)
    stop = threading.Event()
    partial: list[str] = []
    seen: set[str] = set()

    def poll() -> None:
        while not stop.is_set():
            try:
                names = os.listdir(model_dir)
            except FileNotFoundError:
                continue
            for name in names:
                version_dir = str(model_dir / name)
                if not name.isdigit():
                    continue
                seen.add(name)
                try:
                    ok = complete(version_dir)
                except FileNotFoundError:  # pruned while being checked
                    ok = False
                if not ok and os.path.isdir(version_dir):
                    partial.append(name)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for n in range(12):
            _push(pusher, tmp_path, _retrained(bulky_model, n), _blessing(tmp_path, 1, model_id=1000 + n))
    finally:
        stop.set()
        reader.join()
    assert not partial, f"reader saw incomplete versions: {partial}"
    assert len(seen) >= 3  # the reader really watched pushes happen
    assert sorted(os.listdir(model_dir)) == ["11", "12"]


def test_a_resumed_push_of_the_same_model_records_its_version_instead_of_pushing_again(tmp_path, model):
    """A Pusher killed after copying and before its execution was recorded runs again on
    --resume: it finds its own version by the push record (finishing it if the copy was cut
    short) instead of publishing the same model as a second version."""
    dest = tmp_path / "serving"
    pusher = _pusher(dest)
    first = _push(pusher, tmp_path, model, _blessing(tmp_path, 1))
    assert first.get_property("pushed_version") == 1
    os.remove(dest / "penguin" / "1" / "saved_model.pb")  # killed before the last file
    again = _push(pusher, tmp_path, model, _blessing(tmp_path, 1))
    assert again.get_property("pushed_version") == 1
    assert sorted(os.listdir(dest / "penguin")) == ["1"]
    assert _complete(str(dest / "penguin" / "1"))
    newer = _push(pusher, tmp_path, _retrained(model, 1), _blessing(tmp_path, 1, model_id=1001))
    assert newer.get_property("pushed_version") == 2


def test_a_full_destination_fails_with_one_line_naming_it(tmp_path, model):
    import subprocess

    dest = tmp_path / "full"
    dest.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(dest)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        with pytest.raises(Exception) as failure:
            _push(_pusher(dest), tmp_path, model, _blessing(tmp_path, 1))
        message = str(failure.value)
        assert f"pushing model 7 to {dest / 'penguin'} failed: No space left on device" in message
        assert len(message) < 400 and "variables" not in message.split("(")[0]
        assert os.listdir(dest / "penguin") == []  # nothing half-copied left behind
    finally:
        subprocess.run(["umount", "-l", str(dest)], check=False)


def test_a_version_pinned_by_a_rollback_is_kept_and_stays_pinned(tmp_path, model):
    """After ``penstock rollback`` pinned version 1, later pushes neither prune it (the server
    serves it) nor unpin it (the rollback is an operator's decision); the push says so."""
    from penstock.components.pusher.executor import edit_models_config, read_models_config

    dest = tmp_path / "serving"
    pusher = _pusher(dest, keep_versions=1)
    _push(pusher, tmp_path, model, _blessing(tmp_path, 1))
    def pin_version_1(entry):  # what `penstock rollback penguin --to 1` writes
        entry.model_version_policy.Clear()
        entry.model_version_policy.specific.versions.append(1)

    edit_models_config(str(dest), "penguin", pin_version_1)
    pushed = [_push(pusher, tmp_path, _retrained(model, n), _blessing(tmp_path, 1, model_id=1000 + n)) for n in range(2)]
    assert sorted(os.listdir(dest / "penguin")) == ["1", "3"]  # 2 pruned, the pinned 1 kept
    assert pushed[-1].custom_properties["pinned_versions"] == "1"
    [entry] = read_models_config(str(dest)).model_config_list.config
    assert list(entry.model_version_policy.specific.versions) == [1]
