"""Where penstock keeps things by default: one home directory (``PENSTOCK_HOME``, else
``./.penstock``) holding the SQLite metadata store, pipeline roots and the serving directory."""

from __future__ import annotations

import os


def home() -> str:
    return os.path.abspath(os.environ.get("PENSTOCK_HOME") or ".penstock")


def default_metadata_path() -> str:
    return os.path.join(home(), "metadata.sqlite")


def default_pipeline_root(pipeline_name: str) -> str:
    return os.path.join(home(), "pipelines", pipeline_name)


def default_serving_dir() -> str:
    return os.path.join(home(), "serving")
