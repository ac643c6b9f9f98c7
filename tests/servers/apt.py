"""One package installer at a time across the suite's processes (pytest-xdist workers): tests
that install what they need with apt (mariadb-server, chromium) may do so at once, and apt
refuses a second user outright."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator

LOCK_FILE = "/tmp/penstock-tests-apt.lock"


@contextlib.contextmanager
def apt_lock() -> Iterator[None]:
    """Held while a test process installs packages."""
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
