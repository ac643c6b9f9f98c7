"""A private MariaDB server for tests: one per pytest session, on a free loopback port, with its
datadir, socket and logs in a temporary directory; stopped and deleted at the session's end.

Use it from any test module::

    def test_something(mariadb_server):           # the fixture is registered in tests/conftest.py
        config = mariadb_server.config("my_db")   # penstock MysqlConfig; creates the database
        url = mariadb_server.url("my_db")         # mysql://penstock:...@127.0.0.1:PORT/my_db

When ``mariadbd`` is missing, the fixture installs Debian's ``mariadb-server`` (the version pinned
below) with apt if it runs as root on a machine with apt, as CI does; otherwise it skips.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.servers.apt import apt_lock

if TYPE_CHECKING:
    from penstock.metadata.connection import MysqlConfig

# The one place the server's version is pinned (`apt-cache policy mariadb-server` on Debian 12).
# Every binary package of Debian's mariadb source that the server pulls in is pinned with it: apt
# would otherwise take the newest mariadb-client, which Breaks an older server. Debian's archive
# drops a build when a point release replaces it (security updates come sooner, in
# bookworm-security, while the pinned build stays in bookworm until then); when the pinned build
# cannot be installed, the newest 10.11 build is, with a warning to update the pin.
MARIADB_VERSION = "1:10.11.18-0+deb12u1"
MARIADB_SERIES = "1:10.11.*"
MARIADB_PACKAGES = ("mariadb-server", "mariadb-server-core", "mariadb-client", "mariadb-client-core",
                    "mariadb-common", "libmariadb3")

# An account with a password (MLMD connects over TCP as this user; root authenticates through
# the unix socket only, as Debian sets it up).
USER = "penstock"
PASSWORD = "penstock-test-pw"
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"])
# Small and quick to start; durability does not matter in a throwaway datadir.
_SERVER_FLAGS = [
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=16M",
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-doublewrite=0",
    "--innodb-use-native-aio=0",  # io_uring/libaio are often unavailable in containers
    "--performance-schema=OFF",
    "--skip-name-resolve",
    "--max-connections=300",
    # Debian's packaged configuration (which --no-defaults skips) makes utf8mb4 the default.
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
]


def _which(name: str) -> str | None:
    return shutil.which(name, path=_SEARCH_PATH)


@dataclasses.dataclass
class MariaDBServer:
    """A running server. ``config``/``url`` give what penstock needs to connect as ``user``."""

    host: str
    port: int
    socket: str
    directory: str
    user: str = USER
    password: str = dataclasses.field(default=PASSWORD, repr=False)
    process: subprocess.Popen[bytes] | None = dataclasses.field(default=None, repr=False)

    def sql(self, statement: str, user: str = "root") -> str:
        """Run SQL through the unix socket as ``user`` (default root) and return its output."""
        client = _which("mariadb") or "mariadb"
        result = subprocess.run(
            [client, "--no-defaults", f"--socket={self.socket}", f"--user={user}", "--batch",
             "--skip-column-names", "-e", statement],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb -e {statement!r} failed: {result.stderr.strip()}")
        return result.stdout

    def create_database(self, database: str) -> None:
        self.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")

    def config(self, database: str) -> MysqlConfig:
        """A penstock connection to ``database`` (created if needed) over TCP, with the password."""
        from penstock.metadata.connection import MysqlConfig

        self.create_database(database)
        return MysqlConfig(host=self.host, port=self.port, database=database, user=self.user, password=self.password)

    def url(self, database: str, password_env: str | None = None) -> str:
        """``mysql://user:password@host:port/database`` for ``--metadata``; creates the database.
        With ``password_env``, the URL names that variable instead of holding the password (the
        caller sets it to ``.password``)."""
        self.create_database(database)
        if password_env:
            return f"mysql://{self.user}@{self.host}:{self.port}/{database}?password_env={password_env}"
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def log(self) -> str:
        path = os.path.join(self.directory, "error.log")
        if not os.path.exists(path):
            return ""
        with open(path, errors="replace") as f:
            return f.read()[-4000:]

    def stop(self) -> None:
        admin = _which("mariadb-admin")
        if self.process is not None and self.process.poll() is None:
            if admin:
                subprocess.run([admin, "--no-defaults", f"--socket={self.socket}", "--user=root", "shutdown"],
                               capture_output=True, timeout=60, check=False)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        shutil.rmtree(self.directory, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "PATH": _SEARCH_PATH}


def _apt_knows(version: str) -> bool:
    result = subprocess.run(["apt-cache", "madison", MARIADB_PACKAGES[0]], capture_output=True, text=True,
                            env=_apt_env(), check=False)
    return any(version == line.split("|")[1].strip() for line in result.stdout.splitlines() if line.count("|") >= 2)


def _apt_install(version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600",
         "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
         *(f"{package}={version}" for package in MARIADB_PACKAGES)],
        capture_output=True, text=True, env=_apt_env(), timeout=1200, check=False,
    )


@contextlib.contextmanager
def _services_not_started() -> Iterator[None]:
    """Debian's maintainer scripts ask policy-rc.d before starting a service: 101 means no. The
    tests start their own server; the system one would take port 3306 and stay running."""
    path = "/usr/sbin/policy-rc.d"
    created = not os.path.exists(path)
    if created:
        with open(path, "w") as f:
            f.write("#!/bin/sh\n# written by penstock's tests while installing mariadb-server\nexit 101\n")
        os.chmod(path, 0o755)
    try:
        yield
    finally:
        if created:
            os.remove(path)


def install_mariadb() -> None:
    """Install the pinned mariadb-server with apt, or skip the test when that is impossible."""
    if os.geteuid() != 0 or not _which("apt-get"):
        pytest.skip("mariadbd is not installed and cannot be installed here (needs root and apt): "
                    "install Debian's mariadb-server to run the MariaDB tests")
    with apt_lock():
        if _which("mariadbd"):  # another test process installed it while this one waited
            return
        with _services_not_started():
            result = _install_pinned()
    if result.returncode != 0 or not _which("mariadbd"):
        raise RuntimeError(f"apt-get install mariadb-server failed (exit {result.returncode}):\n"
                           f"{(result.stdout + result.stderr)[-3000:]}")


def _install_pinned() -> subprocess.CompletedProcess[str]:
    """The pinned version; after refreshing stale package lists if needed; else the series."""
    result = _apt_install(MARIADB_VERSION) if _apt_knows(MARIADB_VERSION) else None
    if result is None or result.returncode != 0:  # no package lists yet (a clean machine), or stale ones
        subprocess.run(["apt-get", "update", "-o", "DPkg::Lock::Timeout=600"], capture_output=True,
                       env=_apt_env(), timeout=600, check=False)
        result = _apt_install(MARIADB_VERSION)
    if result.returncode != 0:
        # RuntimeWarning: the project's pytest configuration hides UserWarnings.
        warnings.warn(f"mariadb-server={MARIADB_VERSION} cannot be installed (no longer in the archive?): "
                      f"installing the newest {MARIADB_SERIES} build; update MARIADB_VERSION in {__file__}",
                      RuntimeWarning, stacklevel=1)
        result = _apt_install(MARIADB_SERIES)
    return result


def start_mariadb(timeout_s: float = 60.0) -> MariaDBServer:
    """Start a private server (installing it first if needed) and create the test account."""
    if not _which("mariadbd"):
        install_mariadb()
    server_bin, install_db = _which("mariadbd"), _which("mariadb-install-db")
    assert server_bin and install_db, "mariadb-server is installed but mariadbd or mariadb-install-db is missing"
    directory = tempfile.mkdtemp(prefix="penstock-mariadb-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # mariadbd refuses to run as root: run it as the package's user
        as_user = ["--user=mysql"]
        shutil.chown(directory, "mysql", "mysql")
    datadir = os.path.join(directory, "data")
    init = subprocess.run(
        [install_db, "--no-defaults", *as_user, f"--datadir={datadir}", "--skip-test-db",
         "--auth-root-authentication-method=socket"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"mariadb-install-db failed: {(init.stdout + init.stderr)[-3000:]}")
    server = MariaDBServer(host="127.0.0.1", port=_free_port(), socket=os.path.join(directory, "mysqld.sock"),
                           directory=directory)
    server.process = subprocess.Popen(
        [server_bin, "--no-defaults", *as_user, f"--datadir={datadir}", "--bind-address=127.0.0.1",
         f"--port={server.port}", f"--socket={server.socket}", f"--pid-file={os.path.join(directory, 'mysqld.pid')}",
         f"--log-error={os.path.join(directory, 'error.log')}", *_SERVER_FLAGS],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        if server.process.poll() is not None:
            log = server.log()
            server.stop()
            raise RuntimeError(f"mariadbd exited with {server.process.returncode} while starting:\n{log}")
        try:
            server.sql("SELECT 1")
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                log = server.log()
                server.stop()
                raise RuntimeError(f"mariadbd did not accept connections within {timeout_s:.0f} s:\n{log}") from None
            time.sleep(0.2)
    server.sql(
        f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; GRANT ALL ON *.* TO '{USER}'@'%';"
        f"CREATE USER '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}'; GRANT ALL ON *.* TO '{USER}'@'localhost';"
    )
    return server


@contextlib.contextmanager
def running_mariadb() -> Iterator[MariaDBServer]:
    server = start_mariadb()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    """One MariaDB server for the whole session (see the module docstring)."""
    with running_mariadb() as server:
        yield server
