"""Where model versions live: the one place that lists a base path and reads a version directory.

Everything the server knows about storage goes through these functions (the poller, the loader's
completeness check, the benchmark). A base path may be local or on any store
``penstock.storage.filesystem`` reaches (``gs://``, ``s3://``, ...). A version on an object store
is copied to a local folder once, when it is loaded, and loaded from there (as KServe's storage
initializer does): TensorFlow then reads local files whatever the store, and the copy is removed
when the version is unloaded.

A version is a direct child of the base path whose name is a non-negative integer written in
ASCII digits (``1``, ``0042``), as TF Serving's FileSystemStoragePathSource reads it; other
children (``.tmp-7``, ``README``) are ignored. Two spellings of one number (``1`` and ``01``):
the one listed last wins, as in TF Serving.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading

from penstock.errors import StorageError
from penstock.storage import filesystem

log = logging.getLogger("penstock.serving")

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
VARIABLES_DIR = "variables"


class BasePathUnavailable(OSError):
    """The base path cannot be listed (missing, or transiently unreachable)."""


def parse_version(name: str) -> int | None:
    """A version directory name -> its number (None: not a version)."""
    return int(name) if name.isascii() and name.isdigit() else None


def list_versions(base_path: str) -> dict[int, str]:
    """The version directories under ``base_path``: number -> path.

    Raises BasePathUnavailable when the base path cannot be listed, so callers can tell "no
    versions" (an empty dict: the versions were removed) from "cannot look" (keep what is loaded).
    A version whose real path leaves the base path (a symlink elsewhere) is ignored with a warning.
    """
    if filesystem.is_remote(base_path):
        return _list_remote_versions(base_path)
    try:
        names = sorted(os.listdir(base_path))
    except OSError as e:
        raise BasePathUnavailable(e.errno, e.strerror, base_path) from None
    real_base = os.path.realpath(base_path)
    versions: dict[int, str] = {}
    for name in names:
        number = parse_version(name)
        if number is None:
            continue
        path = os.path.join(base_path, name)
        real = os.path.realpath(path)
        if not os.path.isdir(real):
            continue
        if os.path.commonpath([real, real_base]) != real_base:
            log.warning("version %s under %s resolves to %s, outside the base path; ignored", name, base_path, real)
            continue
        versions[number] = path
    return versions


def _list_remote_versions(base_path: str) -> dict[int, str]:
    try:
        names = filesystem.list_names(base_path)
    except (OSError, StorageError) as e:
        raise BasePathUnavailable(0, str(e), base_path) from None
    versions: dict[int, str] = {}
    for name in names:
        number = parse_version(name)
        if number is not None:
            versions[number] = filesystem.join(base_path, name)
    return versions


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
