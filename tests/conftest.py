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


# -- running the suite on every core (pytest-xdist: ./dev.sh test passes `-n auto`) ----------------
# Tests are sent to worker processes by group, and a group never splits: module- and
# session-scoped fixtures (a pipeline run shared by a module's tests, the registry store) are then
# built once, on one worker. A test's group is its file, or the name below when files share an
# expensive per-process fixture. (The scheduler is penstock's: xdist's own `loadgroup` does not
# see its marks on pytest 9.)
SHARED_FIXTURE_GROUPS = {
    "tests/registry/": "registry store",  # tests/registry/conftest.py: real penguin runs
    "tests/report/": "report pipeline",  # tests/report/conftest.py: a pipeline run and Chromium
    "tests/components/test_trainer.py": "example models",  # tests/components/_example_fixtures.py
    "tests/components/test_transform.py": "example models",
}


def group_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return next((group for prefix, group in SHARED_FIXTURE_GROUPS.items() if path.startswith(prefix)), path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Slow groups (whole pipeline runs) first: the workers then finish at about the same time
    # instead of one of them starting the longest group last.
    slow_groups = {group_of(item.nodeid) for item in items if item.get_closest_marker("slow")}
    order = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (group_of(item.nodeid) not in slow_groups, order[id(item)]))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ByGroup(config, log)
