"""Where model versions live: the one place that lists a base path and reads a version directory.

Everything the server knows about storage goes through these functions (the poller, the loader's
completeness check, the benchmark), so pointing the server at another filesystem (``gs://``,
``s3://``) means replacing this module's bodies and nothing else. Today they use the local
filesystem only.

A version is a direct child of the base path whose name is a non-negative integer written in
ASCII digits (``1``, ``0042``), as TF Serving's FileSystemStoragePathSource reads it; other
children (``.tmp-7``, ``README``) are ignored. Two spellings of one number (``1`` and ``01``):
the one listed last wins, as in TF Serving.
"""

from __future__ import annotations

import logging
import os

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


def missing_parts(version_path: str) -> list[str]:
    """What a version directory lacks to be a loadable SavedModel (empty when complete)."""
    missing = []
    if not any(os.path.isfile(os.path.join(version_path, f)) for f in SAVED_MODEL_FILES):
        missing.append("saved_model.pb")
    if not os.path.isdir(os.path.join(version_path, VARIABLES_DIR)):
        missing.append("variables/")
    return missing


def fingerprint(version_path: str) -> tuple[object, ...]:
    """Names, sizes and modification times of everything under a version directory: two equal
    fingerprints a poll apart mean the copy has stopped changing."""
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
    with open(path, "rb") as f:
        return f.read()


def exists(path: str) -> bool:
    return os.path.exists(path)
