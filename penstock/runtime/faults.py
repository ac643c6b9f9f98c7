"""What a failure inside a component means for the run: retry it or not, and how a component
that tries to end the process is stopped at the component instead.

**What is retried** (under the component's ``RetryPolicy``, and never beyond it): failures of
the environment that a later attempt may not meet, namely

- ``RetryableError``, raised by user code on purpose;
- ``StorageError`` and ``MetadataError`` raised while reaching a store;
- ``OSError`` of the network or the device (``ConnectionError``, ``TimeoutError``, an I/O
  error), but not those that name a path's state (``FileNotFoundError``, ``PermissionError``,
  ``IsADirectoryError``, a full disk, a read-only file system): they fail again the same way;
- the "unavailable / deadline exceeded / too many requests" errors of TensorFlow, gRPC and the
  Google and AWS clients, recognised by class name so none of them is imported here;
- any of these as the explicit cause (``raise ... from e``) of another error, unless a cause in
  the chain is one of the permanent ``OSError`` above.

Everything else is a defect of the code or the data and runs once: a ``ValueError`` raised by a
``@component`` fails the same way on every attempt, so three attempts only triple the wait.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from penstock.errors import MetadataError, PenstockError, RetryableError, StorageError

_TRANSIENT_NAMES = frozenset({
    "UnavailableError", "DeadlineExceededError", "AbortedError",  # TensorFlow
    "ServiceUnavailable", "TooManyRequests", "DeadlineExceeded", "InternalServerError", "GatewayTimeout",  # google.api_core
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",  # botocore
})
_PATH_STATE_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)
_PERMANENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG})


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt may succeed where this one failed with ``error`` (see above)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in chain):
        chain.append(current)
        current = current.__cause__
    # A cause that fails the same way again (a full disk behind a StorageError) decides first.
    if any(isinstance(e, OSError) and not _transient(e) for e in chain):
        return False
    return any(_transient(e) for e in chain)


def _transient(error: BaseException) -> bool:
    if isinstance(error, (RetryableError, StorageError, MetadataError)):
        return True
    if isinstance(error, PenstockError):
        return False
    if isinstance(error, OSError):
        return not isinstance(error, _PATH_STATE_ERRORS) and error.errno not in _PERMANENT_ERRNOS
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(error).__mro__)


class ComponentExit(SystemExit):
    """A component called ``os._exit(code)``: raised in its thread instead of ending the process."""


_running = 0
_running_lock = threading.Lock()
_guarded_pid: int | None = None
_real_exit = os._exit


def _exit_unless_component(status: int) -> NoReturn:
    # Only in the process that installed the guard (a forked child really exits) and never from
    # the main thread, where penstock itself ends the process; components run in worker threads.
    if os.getpid() == _guarded_pid and _running and threading.current_thread() is not threading.main_thread():
        raise ComponentExit(status)
    _real_exit(status)


@contextmanager
def component_exits_contained() -> Iterator[None]:
    """While a component runs, ``os._exit`` from its threads raises :class:`ComponentExit`
    (a ``SystemExit``) in that thread, so the execution is recorded FAILED with the exit code
    instead of the process vanishing with a RUNNING record and its files left behind."""
    global _running, _guarded_pid
    with _running_lock:
        if _guarded_pid != os.getpid():
            _guarded_pid = os.getpid()
            os._exit = _exit_unless_component
        _running += 1
    try:
        yield
    finally:
        with _running_lock:
            _running -= 1


def describe_exit(error: SystemExit) -> str:
    """The message for a component that called ``sys.exit`` or ``os._exit``."""
    call = "os._exit" if isinstance(error, ComponentExit) else "sys.exit"
    code: Any = error.code
    return (f"the component called {call}({code!r}); a component must raise an exception to fail, "
            "not end the process (penstock stopped it there and recorded the failure)")
