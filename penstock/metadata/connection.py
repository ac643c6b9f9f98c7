"""How to reach an ML Metadata store: SQLite (the default) or MySQL. Plain data, so declaring a
pipeline never imports ml_metadata.

A MySQL store is named by a URL: ``mysql://user:password@host:port/db``, or, keeping the
password out of command lines, files and compiled specs, ``mysql://user@host:port/db?password_env=VAR``
(the password is read from the environment variable VAR when connecting). ``?socket=/path``
connects through a unix socket instead of TCP.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from penstock.errors import MetadataError

# The variable tasks of compiled pipelines (Kubeflow pods, Airflow workers) read the MySQL
# password from when the compiled URL must not hold it.
DEFAULT_PASSWORD_ENV = "PENSTOCK_METADATA_PASSWORD"
_URL_OPTIONS = ("password_env", "socket")


@dataclasses.dataclass(frozen=True)
class SqliteConfig:
    path: str

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    def url(self) -> str:
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
    """A MySQL (or MariaDB) database. The password is ``password``, or, when ``password_env`` is
    set, the value of that environment variable at connect time. With ``socket``, the client
    connects through that unix socket and ``host``/``port`` only name the store in messages."""

    host: str
    database: str
    user: str = "root"
    password: str = dataclasses.field(default="", repr=False)
    port: int = 3306
    password_env: str | None = None
    socket: str | None = None

    def describe(self) -> str:
        """The store's URL without the password, for messages."""
        return self.url()

    def url(self) -> str:
        """A URL that reconnects to this store; it never holds a literal password."""
        options = {k: v for k, v in (("password_env", self.password_env), ("socket", self.socket)) if v}
        query = f"?{urlencode(options, safe='/')}" if options else ""
        return f"mysql://{quote(self.user, safe='')}@{self.host}:{self.port}/{self.database}{query}"

    def resolved_password(self) -> str:
        if not self.password_env:
            return self.password
        value = os.environ.get(self.password_env)
        if value is None:
            raise MetadataError(
                f"cannot connect to the metadata store {self.describe()}: its password is read from the "
                f"environment variable {self.password_env}, which is not set"
            )
        return value

    def to_proto(self) -> Any:
        from ml_metadata.proto import metadata_store_pb2

        config = metadata_store_pb2.ConnectionConfig()
        if self.socket:
            # MySQL's client library takes the socket only for an empty host (or "localhost").
            config.mysql.socket = self.socket
        else:
            config.mysql.host = self.host
            config.mysql.port = self.port
        config.mysql.database = self.database
        config.mysql.user = self.user
        config.mysql.password = self.resolved_password()
        return config


MetadataConfig = SqliteConfig | MysqlConfig


def sqlite(path: str) -> SqliteConfig:
    return SqliteConfig(os.path.abspath(path))


def mysql(host: str, database: str, user: str = "root", password: str = "", port: int = 3306, *,
          password_env: str | None = None, socket: str | None = None) -> MysqlConfig:
    return MysqlConfig(host=host, database=database, user=user, password=password, port=port,
                       password_env=password_env, socket=socket)


def parse(spec: str | MetadataConfig) -> MetadataConfig:
    """``sqlite:PATH``, a bare SQLite path, or a MySQL URL:
    ``mysql://user[:password]@host[:port]/db[?password_env=VAR][&socket=/path]``; a config
    object is returned as it is (a Pipeline holds either, as declared)."""
    if not isinstance(spec, str):
        return spec
    if not spec.startswith("mysql://"):
        return sqlite(spec.removeprefix("sqlite:"))
    url = urlsplit(spec)
    shown = spec.replace(f":{url.password}@", ":***@") if url.password else spec
    options = parse_qs(url.query, keep_blank_values=True)
    unknown = sorted(set(options) - set(_URL_OPTIONS))
    if unknown:
        raise MetadataError(f"metadata URL {shown}: unknown option {', '.join(unknown)} "
                            f"(known: {', '.join(_URL_OPTIONS)})")
    password_env = options.get("password_env", [""])[-1] or None
    if password_env and url.password:
        raise MetadataError(f"metadata URL {shown} gives both a password and password_env; keep only password_env")
    database = unquote(url.path.lstrip("/"))
    if not database:
        raise MetadataError(f"metadata URL {shown} names no database: mysql://user@host:port/DATABASE")
    try:
        port = url.port or 3306
    except ValueError:
        raise MetadataError(f"metadata URL {shown}: the port is not a number") from None
    return MysqlConfig(
        host=url.hostname or "localhost",
        database=database,
        user=unquote(url.username or "root"),
        password=unquote(url.password or ""),
        port=port,
        password_env=password_env,
        socket=options.get("socket", [""])[-1] or None,
    )


def task_config(config: MetadataConfig) -> MetadataConfig:
    """``config`` as a task (another process, pod or machine) should reconnect to it, without a
    literal password: a task reads it from ``$PENSTOCK_METADATA_PASSWORD`` (or the variable
    ``password_env`` already names), which the orchestrator must give it."""
    if isinstance(config, MysqlConfig) and config.password and not config.password_env:
        return dataclasses.replace(config, password="", password_env=DEFAULT_PASSWORD_ENV)
    return config


def task_url(config: MetadataConfig) -> str:
    """The ``--metadata`` value written into compiled pipelines: never holds the password."""
    return task_config(config).url()
