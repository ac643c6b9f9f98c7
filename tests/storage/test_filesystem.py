"""penstock.storage.filesystem against a disk and two real object stores on loopback: the same
calls give the same answers everywhere (a folder is a prefix, nothing is renamed, *.gz objects
are stored as written)."""

from __future__ import annotations

import gzip

import pytest

from penstock.errors import StorageError
from penstock.storage import filesystem


@pytest.fixture(params=["local", "s3", "gcs"])
def root(request, tmp_path, monkeypatch):
    if request.param == "local":
        return str(tmp_path / "root")
    store = request.getfixturevalue(f"{request.param}_store")
    store.activate(monkeypatch)
    return store.fresh_prefix("fs")


def test_the_same_calls_give_the_same_answers_on_a_disk_and_on_object_stores(root, tmp_path):
    data = gzip.compress(b"tf.Example records" * 100)
    filesystem.write_bytes(filesystem.join(root, "a", "Split-train", "data.gz"), data)
    filesystem.write_text(filesystem.join(root, "a", "schema.pbtxt"), "feature {}\n")
    # stored byte for byte: pyarrow's default would gzip a *.gz on the way in and gunzip it on the way out
    assert filesystem.read_bytes(filesystem.join(root, "a", "Split-train", "data.gz")) == data
    assert filesystem.size(filesystem.join(root, "a", "Split-train", "data.gz")) == len(data)
    with filesystem.open_input(filesystem.join(root, "a", "Split-train", "data.gz")) as f:
        f.seek(2)
        assert f.read(3) == data[2:5]
    assert filesystem.list_names(filesystem.join(root, "a")) == ["Split-train", "schema.pbtxt"]
    assert [filesystem.relative_to(e.path, root) for e in filesystem.list_files(root)] == [
        "a/Split-train/data.gz", "a/schema.pbtxt"]
    assert filesystem.is_dir(filesystem.join(root, "a")) and not filesystem.is_file(filesystem.join(root, "a"))
    assert filesystem.exists(filesystem.join(root, "a", "schema.pbtxt"))
    assert not filesystem.exists(filesystem.join(root, "nothing"))
    assert filesystem.list_names(filesystem.join(root, "nothing")) == []
    with pytest.raises(FileNotFoundError, match="nothing/x"):
        filesystem.read_bytes(filesystem.join(root, "nothing", "x"))

    # across filesystems, with the named files last
    order = []
    moved = filesystem.copy_tree(filesystem.join(root, "a"), str(tmp_path / "copy"), last=("schema.pbtxt",),
                                 before_last=lambda: order.append(sorted(p.name for p in (tmp_path / "copy").rglob("*") if p.is_file())))
    assert moved.files == 2 and moved.bytes == len(data) + len("feature {}\n")
    assert order == [["data.gz"]]  # schema.pbtxt came after the callback
    back = filesystem.join(root, "b")
    filesystem.copy_tree(str(tmp_path / "copy"), back)
    assert filesystem.read_bytes(filesystem.join(back, "Split-train", "data.gz")) == data

    filesystem.delete(filesystem.join(root, "a"))
    assert not filesystem.exists(filesystem.join(root, "a"))
    filesystem.delete(filesystem.join(root, "a"))  # already gone: nothing to do


def test_uris_are_never_turned_into_local_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert filesystem.absolute("gs://bucket/root/") == "gs://bucket/root"
    assert filesystem.join("s3://b/x", "y", "z") == "s3://b/x/y/z"
    assert filesystem.dirname("gs://b/x/y") == "gs://b/x" and filesystem.basename("gs://b/x/y") == "y"
    with pytest.raises(StorageError, match="nosuch://b/x: cannot open this filesystem"):
        filesystem.read_bytes("nosuch://b/x")
    assert not (tmp_path / "gs:").exists() and not (tmp_path / "nosuch:").exists()
