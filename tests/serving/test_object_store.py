"""``penstock serve`` and the Pusher on one object store: versions the Pusher writes to ``s3://``
or ``gs://`` are served (loaded from local copies), a new push swaps in and a pruned version
unloads with no failed request, and the copies of unloaded versions are removed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from test_rollback import clients

from penstock import testing
from penstock.artifacts import Model, ModelBlessing
from penstock.components.pusher import Pusher
from penstock.dsl.artifact import ArtifactState
from penstock.dsl.channel import Channel
from penstock.serving import storage
from penstock.serving.config import ModelConfig
from penstock.serving.server import ModelServer
from penstock.storage import filesystem


@pytest.mark.parametrize("store_name", ["s3_store", "gcs_store"])
def test_versions_pushed_to_an_object_store_are_served_and_hot_swapped(
    request: Any, store_name: str, tmp_path: Any, monkeypatch: Any, tf1_templates: dict[int, str],
    start_server: Callable[..., ModelServer],
) -> None:
    store = request.getfixturevalue(store_name)
    store.activate(monkeypatch)
    destination = store.fresh_prefix("serving")
    pusher = Pusher(model=Channel(Model), model_blessing=Channel(ModelBlessing), push_destination=destination,
                    model_name="pair", keep_versions=1)

    def push(template: str, model_id: int) -> int:
        model_dir = tmp_path / f"model-{model_id}"
        shutil.copytree(template, model_dir / "Format-Serving")
        model = Model(str(model_dir), id=model_id, state=ArtifactState.LIVE)
        blessing = ModelBlessing(str(tmp_path / f"blessing-{model_id}"), {"blessed": 1, "model_id": model_id},
                                 id=model_id + 1000, state=ArtifactState.LIVE)
        pushed = testing.run_executor(pusher, pipeline_root=str(tmp_path / "root"),
                                      inputs={"model": [model], "model_blessing": [blessing]})["pushed_model"]
        return int(pushed.get_property("pushed_version"))

    assert push(tf1_templates[1], 1) == 1
    base = filesystem.join(destination, "pair")
    assert "pair" in filesystem.read_text(filesystem.join(destination, "models.config"))
    server = start_server([ModelConfig("pair", base)])
    with clients(server, "pair") as loop:
        loop.wait_for(1)
        assert push(tf1_templates[2], 2) == 2  # keep_versions=1: version 1 is pruned from the store
        loop.wait_for(2)
        assert sorted(storage.list_versions(base)) == [2]
    assert loop.failures == []
    # the server stopped with the client loop: every version unloaded, every local copy removed
    assert storage._copies_root is not None and os.listdir(storage._copies_root) == []
