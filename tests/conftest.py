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
