"""Where model versions live: the one place that lists a base path and reads a version directory.

Everything the server knows about storage goes through these functions (the poller, the loader's
completeness check, the benchmark). A base path may be local or on any store
``penstock.storage.filesystem`` reaches (``gs://``, ``s3://``, ...). A version on an object store
is copied to a local folder once, when it is loaded, and loaded from there (as KServe's storage
initializer does): TensorFlow then reads local files whatever the store, and the copy is removed
when the version is unloaded.

What counts as a version is ``penstock.storage.model_versions``'s, shared with the Pusher.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading

from penstock.storage import filesystem
from penstock.storage.model_versions import BasePathUnavailable, list_versions, parse_version

__all__ = ["BasePathUnavailable", "list_versions", "parse_version"]  # the server's names for them

log = logging.getLogger("penstock.serving")

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
VARIABLES_DIR = "variables"


def missing_parts(version_path: str) -> list[str]:
    """What a version directory lacks to be a loadable SavedModel (empty when complete)."""
    missing = []
    if not any(filesystem.is_file(filesystem.join(version_path, f)) for f in SAVED_MODEL_FILES):
        missing.append("saved_model.pb")
    if not filesystem.is_dir(filesystem.join(version_path, VARIABLES_DIR)):
        missing.append("variables/")
    return missing


def fingerprint(version_path: str) -> tuple[object, ...]:
    """Names, sizes and modification times of everything under a version directory: two equal
    fingerprints a poll apart mean the copy has stopped changing."""
    if filesystem.is_remote(version_path):
        return tuple((filesystem.relative_to(e.path, version_path), e.size, e.mtime_ns)
                     for e in filesystem.list_files(version_path))
    entries: list[object] = []
    for root, dirs, files in os.walk(version_path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:
                entries.append((full, -1, -1))
                continue
            entries.append((os.path.relpath(full, version_path), st.st_size, st.st_mtime_ns))
    return tuple(entries)


def read_file(path: str) -> bytes:
    """A file of a version (saved_model.pb, assets.extra/...)."""
    return filesystem.read_bytes(path)


def exists(path: str) -> bool:
    return filesystem.exists(path)


_copies_lock = threading.Lock()
_copies_root: str | None = None


def local_version(version_path: str) -> str:
    """A local folder holding the version: the path itself when local, else a fresh copy
    (release it with :func:`release_local_version` when the version is unloaded)."""
    global _copies_root
    if not filesystem.is_remote(version_path):
        return version_path
    with _copies_lock:
        if _copies_root is None:
            _copies_root = tempfile.mkdtemp(prefix="penstock-serving-")
    target = tempfile.mkdtemp(prefix=f"{filesystem.basename(version_path)}-", dir=_copies_root)
    try:
        filesystem.copy_tree(version_path, target)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def release_local_version(version_path: str, local_path: str) -> None:
    """Remove the local copy :func:`local_version` made (nothing for a local version)."""
    if local_path != version_path:
        shutil.rmtree(local_path, ignore_errors=True)
