"""This side of a connection to a worker process: send executions, wait for their outcome.

A reader thread takes every message the worker sends: outcomes wake the thread waiting for
them; log records and output are handed to this process's logging and streams. When the
connection breaks (the worker crashed, was killed, or sent something unreadable) every waiting
execution fails with :class:`WorkerCrashedError` and the client is dead: the host starts another
worker for what comes next.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from penstock.errors import ExecutionError
from penstock.runtime.workers import protocol

_log = logging.getLogger("penstock.runtime.workers")
CLOSE_SECONDS = 5.0  # for a worker to end itself once its connection closed


class WorkerCrashedError(ExecutionError):
    """The worker process running a component ended before the component did."""


class NotSendableError(Exception):
    """An execution's context cannot travel to the worker (a parameter that does not pickle)."""


class _Pending:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.done = threading.Event()
        self.error: BaseException | None = None


class WorkerClient:
    """One worker process serving this run. ``exit_status`` says how it ended, once it has
    (for messages); ``process`` is set when this run spawned it."""

    def __init__(self, conn: Connection, pid: int, *, origin: str,
                 process: subprocess.Popen[bytes] | None = None,
                 exit_status: Callable[[], str] | None = None) -> None:
        self.conn = conn
        self.pid = pid
        self.origin = origin  # "spawned" or "forked by the warm daemon"
        self.process = process
        self._exit_status = exit_status
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self.alive = True
        self._reader = threading.Thread(target=self._read, name=f"penstock-worker-{pid}", daemon=True)
        self._reader.start()

    # -- executions ---------------------------------------------------------------------------
    def execute(self, component_id: str, executor_ref: str, ctx: Any) -> None:
        """Run ``executor_ref(ctx)`` in the worker; ``ctx.outputs`` get what the executor set on
        them; its exception is raised here."""
        pending = _Pending(ctx)
        with self._lock:
            if not self.alive:
                raise self._crashed(component_id)
            request_id = next(self._ids)
            self._pending[request_id] = pending
        try:
            with self._send_lock:
                self.conn.send((protocol.EXECUTE, request_id, executor_ref, ctx))
        except (OSError, ValueError):
            self._connection_lost()
        except Exception as e:  # pickling it failed, before anything was sent: the worker is fine
            with self._lock:
                self._pending.pop(request_id, None)
            raise NotSendableError(f"{type(e).__name__}: {e}") from e
        pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def _crashed(self, component_id: str) -> WorkerCrashedError:
        status = self._exit_status() if self._exit_status else "its connection closed"
        return WorkerCrashedError(
            component_id,
            f"the worker process running it (pid {self.pid}, {self.origin}) ended before the component "
            f"did: {status}. The run starts a new worker for the components after it; to run every "
            "component in the run's own process instead, set PENSTOCK_WORKER=inline",
        )

    # -- messages from the worker ------------------------------------------------------------------
    def _read(self) -> None:
        try:
            while True:
                message = self.conn.recv()
                kind = message[0]
                if kind == protocol.LOG:
                    protocol.emit_record(message[1])
                elif kind == protocol.OUTPUT:
                    stream = sys.stdout if message[1] == "stdout" else sys.stderr
                    stream.write(message[2])
                    stream.flush()
                elif kind in (protocol.RESULT, protocol.FAILURE):
                    self._finish(message)
        except Exception as e:  # EOF, a broken pipe, a message that does not unpickle
            if not isinstance(e, (EOFError, OSError)):
                _log.warning("worker %s sent an unreadable message (%s: %s); stopping it", self.pid,
                             type(e).__name__, e)
        self._connection_lost()

    def _finish(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            pending = self._pending.pop(message[1], None)
        if pending is None:
            return
        for key, returned in message[2].items():
            original = pending.ctx.outputs.get(key)
            if original is not None:
                vars(original).update(vars(returned))
        if message[0] == protocol.FAILURE:
            pending.error = protocol.unpack_error(message[3])
        pending.done.set()

    def _connection_lost(self) -> None:
        with self._lock:
            if not self.alive and not self._pending:
                return
            self.alive = False
            pending, self._pending = self._pending, {}
        hang_up(self.conn)  # a worker still reading ends on its own when its connection closes
        for entry in pending.values():
            entry.error = self._crashed(entry.ctx.component_id)
            entry.done.set()

    # -- ending ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection: the worker ends itself (it never outlives its run)."""
        with self._lock:
            self.alive = False
        hang_up(self.conn)
        if self.process is not None:
            try:
                self.process.wait(timeout=CLOSE_SECONDS)
            except subprocess.TimeoutExpired:  # stuck in native code: it must not outlive the run
                self.process.kill()
                self.process.wait()
        elif not _ends_within(self.pid, CLOSE_SECONDS):
            # A worker forked by the daemon is the daemon's child (which reaps it), not ours; still
            # it must not outlive the run.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)


def hang_up(conn: Connection) -> None:
    """Shut the socket down, then close it. Closing alone is not enough: while the reader thread
    sits in ``recv`` on it, the kernel keeps the socket open, so the worker would never see the
    end of its connection (and would end only when killed)."""
    with contextlib.suppress(OSError, ValueError):
        dup = socket.socket(fileno=os.dup(conn.fileno()))
        with contextlib.suppress(OSError):
            dup.shutdown(socket.SHUT_RDWR)
        dup.close()
    with contextlib.suppress(OSError):
        conn.close()


def _ends_within(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` is gone (or a zombie: ended, not yet reaped) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                # The state follows the command name in parentheses, which may itself hold spaces.
                if f.read().rpartition(")")[2].split()[0] in ("Z", "X"):
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        except OSError:  # no /proc here: rely on the worker ending itself
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def describe_returncode(process: subprocess.Popen[bytes]) -> str:
    """How a spawned worker ended, for messages (waits a moment for it to be reaped)."""
    deadline = time.monotonic() + 2
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    code = process.returncode
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
