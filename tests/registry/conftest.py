"""The registry store (real penguin runs: tests/registry/_store.py), built once per session and
shared by the CLI, rollback and page tests; and headless Chromium from tests/report."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.registry import _store
from tests.report.conftest import browser  # noqa: F401  (the session's Chromium)


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> _store.RegistryStore:
    return _store.build(str(tmp_path_factory.mktemp("registry")))


def copy_of(registry: _store.RegistryStore, target: str) -> tuple[str, str]:
    """A copy of the store's metadata and serving directory (the artifacts stay shared, read-only):
    a test that rolls back there leaves the session's store as it was. (metadata, serving dir)."""
    os.makedirs(target)
    metadata = os.path.join(target, "metadata.sqlite")
    shutil.copy(registry.metadata, metadata)
    serving = os.path.join(target, "serving")
    shutil.copytree(registry.serving_dir, serving)
    config = os.path.join(serving, "models.config")
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:  # the copy's entries point at the copy's versions
        f.write(text.replace(registry.serving_dir, serving))
    return metadata, serving
