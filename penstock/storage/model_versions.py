"""TF Serving's model directory: ``<base path>/<version>/`` with integer versions. The one owner
of what counts as a version, for the Pusher that writes versions and the server that reads them.

A version is a direct child of the base path whose name is a non-negative integer written in
ASCII digits (``1``, ``0042``), as TF Serving's FileSystemStoragePathSource reads it; other
children (``.tmp-7``, ``.push-…``, ``README``) are ignored. Two spellings of one number (``1``
and ``01``): the one listed last wins, as in TF Serving. The base path may be local or on any
store ``penstock.storage.filesystem`` reaches.
"""

from __future__ import annotations

import logging
import os

from penstock.errors import StorageError
from penstock.storage import filesystem

log = logging.getLogger("penstock.storage")


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
