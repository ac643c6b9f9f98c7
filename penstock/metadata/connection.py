"""How to reach an ML Metadata store: SQLite (the default) or MySQL. Plain data, so declaring a
pipeline never imports ml_metadata."""

from __future__ import annotations

import dataclasses
import os
from typing import Any


@dataclasses.dataclass(frozen=True)
class SqliteConfig:
    path: str

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    def to_proto(self) -> Any:
        from ml_metadata.proto import metadata_store_pb2

        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = os.path.abspath(self.path)
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        return config


@dataclasses.dataclass(frozen=True)
class MysqlConfig:
    host: str
    database: str
    user: str = "root"
    password: str = dataclasses.field(default="", repr=False)
    port: int = 3306

    def describe(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"

    def to_proto(self) -> Any:
        from ml_metadata.proto import metadata_store_pb2

        config = metadata_store_pb2.ConnectionConfig()
        config.mysql.host = self.host
        config.mysql.port = self.port
        config.mysql.database = self.database
        config.mysql.user = self.user
        config.mysql.password = self.password
        return config


MetadataConfig = SqliteConfig | MysqlConfig


def sqlite(path: str) -> SqliteConfig:
    return SqliteConfig(os.path.abspath(path))


def mysql(host: str, database: str, user: str = "root", password: str = "", port: int = 3306) -> MysqlConfig:
    return MysqlConfig(host=host, database=database, user=user, password=password, port=port)


def parse(spec: str) -> MetadataConfig:
    """``sqlite:PATH``, ``mysql://user:password@host:port/db`` or a bare SQLite path."""
    if spec.startswith("mysql://"):
        from urllib.parse import urlparse

        url = urlparse(spec)
        return MysqlConfig(
            host=url.hostname or "localhost",
            database=url.path.lstrip("/"),
            user=url.username or "root",
            password=url.password or "",
            port=url.port or 3306,
        )
    return sqlite(spec.removeprefix("sqlite:"))
