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
