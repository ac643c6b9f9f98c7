"""Shared fixtures: every test gets its own PENSTOCK_HOME, so metadata and artifacts never leak."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENSTOCK = [sys.executable, "-m", "penstock"]


@pytest.fixture()
def penstock_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("PENSTOCK_HOME", str(home))
    return home
