"""Shared fixtures: every test gets its own PENSTOCK_HOME, so metadata and artifacts never leak."""

from __future__ import annotations

import os
import sys

import pytest

# A real MariaDB server, one per session, for any test that asks for `mariadb_server` (it
# installs mariadb-server with apt when missing): see tests/servers/mariadb.py.
from tests.servers.mariadb import mariadb_server  # noqa: F401

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENSTOCK = [sys.executable, "-m", "penstock"]


@pytest.fixture()
def penstock_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("PENSTOCK_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory):
    """An S3 server (moto) on loopback for the whole session; tests write under fresh prefixes."""
    from tests.servers.object_stores import s3_server

    with s3_server(str(tmp_path_factory.mktemp("s3"))) as store:
        yield store


@pytest.fixture(scope="session")
def gcs_store(tmp_path_factory):
    """A GCS emulator on loopback for the whole session; tests write under fresh prefixes."""
    from tests.servers.object_stores import gcs_server

    with gcs_server(str(tmp_path_factory.mktemp("gcs"))) as store:
        yield store


# -- running the suite on every core (pytest-xdist, `-n auto` in pyproject's addopts) ----------
# Tests are sent to worker processes by group, and a group never splits: module- and
# session-scoped fixtures (a pipeline run shared by a module's tests, the registry store) are then
# built once, on one worker. A test's group is its file, or the folder or name below when files
# share an expensive per-process fixture.
SHARED_FIXTURE_GROUPS = {
    "tests/registry/": "registry store",  # tests/registry/conftest.py: real penguin runs
    "tests/report/": "report pipeline",  # tests/report/conftest.py: a pipeline run and Chromium
    "tests/components/test_trainer.py": "example models",  # tests/components/_example_fixtures.py
    "tests/components/test_transform.py": "example models",
}


def _group(item: pytest.Item) -> str:
    path = os.path.relpath(str(item.path), PROJECT_ROOT)
    return next((group for prefix, group in SHARED_FIXTURE_GROUPS.items() if path.startswith(prefix)), path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Slow groups (whole pipeline runs) first: the workers then finish at about the same time
    # instead of one of them starting the longest group last.
    slow_groups = {_group(item) for item in items if item.get_closest_marker("slow")}
    order = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (_group(item) not in slow_groups, order[id(item)]))
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
