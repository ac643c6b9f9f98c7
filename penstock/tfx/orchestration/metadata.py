"""``tfx.orchestration.metadata``: where a pipeline's ML Metadata store is."""

from typing import Any

from penstock.tfx._runners import mysql_metadata_connection_config, sqlite_metadata_connection_config

ConnectionConfigType = Any

__all__ = ["ConnectionConfigType", "mysql_metadata_connection_config", "sqlite_metadata_connection_config"]
