"""Where a run's executors run: in the run's process, or in a worker process.

Modes (``LocalRunner(worker=...)``; ``penstock run`` reads ``PENSTOCK_WORKER``, default ``auto``):

- ``inline``: every executor in the run's process; heavy modules preload in a background
  thread (``penstock.runtime.preload``). What a program embedding penstock gets by default.
- ``process``: at the run's first execution, spawn a worker process that imports the heavy
  modules of the pipeline's components while the first components (ExampleGen) run here.
  Opt-in: on the penguin pipeline (2 cores) it measured no faster than ``inline`` (ExampleGen
  is too short for the imports to hide behind, and the worker costs its own interpreter and
  memory); it pays when ExampleGen's reading is long enough to overlap them without the GIL.
- ``daemon``: fork the worker from the warm daemon of this environment (``daemon``), starting
  one first when none runs; later runs find it warm.
- ``auto``: ``daemon`` when one is already running for this environment (``penstock warm``),
  else ``inline``; ``inline`` too when this process has imported the heavy modules already
  (nothing to wait for).

Only executions that gain and keep their meaning go to a worker: an executor named
``"module:function"`` that the worker can import by name (every standard component's;
``@component`` functions stay here) of a component that needs the TensorFlow stack (its
``HEAVY_MODULES``), on Beam's in-process runner, whose files
are all on this machine (object-store URIs stay here, where ``penstock.storage.staging``
prepared the libraries). Everything else, metadata, caching, staging and the commit included,
is done by the run's process exactly as before. A worker serves one run and ends with it;
a worker that crashed is replaced for the next component, never reused.
"""

from __future__ import annotations

import importlib.machinery
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

from penstock.errors import PenstockError
from penstock.runtime.workers import protocol
from penstock.runtime.workers.client import NotSendableError, WorkerClient, describe_returncode

_log = logging.getLogger("penstock.runtime.workers")

MODES = ("inline", "process", "daemon", "auto")
ENV_VAR = "PENSTOCK_WORKER"
# A component whose HEAVY_MODULES include one of these needs the TensorFlow stack.
STACK_PREFIXES = ("tensorflow", "tf_keras", "apache_beam")
LOCAL_RUNNERS = ("DirectRunner", "direct", None)
# How long a new worker may take to say it is ready: a spawned one answers before it imports
# anything heavy; a daemon still importing the stack forks one only when it is done.
SPAWN_READY_SECONDS = 60.0
DAEMON_READY_SECONDS = 300.0


class WorkerSetupError(PenstockError):
    """A worker process could not be started or reached."""


def mode_from_environment(default: str = "inline") -> str:
    mode = os.environ.get(ENV_VAR, "").strip().lower() or default
    if mode not in MODES:
        raise WorkerSetupError(f"{ENV_VAR}={mode!r} is not one of {', '.join(MODES)}")
    return mode


def needs_stack(modules: Iterable[str]) -> bool:
    return any(m.split(".")[0].startswith(STACK_PREFIXES) for m in modules)


def stack_imported(modules: Iterable[str]) -> bool:
    return all(m in sys.modules for m in modules if needs_stack([m]))


class ExecutorHost:
    """Decides, per execution, whether it runs in a worker, and keeps that worker."""

    def __init__(self, mode: str = "inline") -> None:
        if mode not in MODES:
            raise WorkerSetupError(f"worker mode {mode!r} is not one of {', '.join(MODES)}")
        self.mode = mode
        self.preload: list[str] = []
        self._worker: WorkerClient | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()  # set first by close(): a handshake under way gives up
        self._active = False
        self.workers_started = 0  # for tests and messages: a replaced worker counts again

    @property
    def active(self) -> bool:
        """Whether executions may go to a worker in this run (decided by :meth:`start`)."""
        return self._active

    def start(self, modules: list[str]) -> bool:
        """At the run's first execution: start the worker that imports ``modules`` (the heavy
        modules of the pipeline's components) when that pays. False: run everything here."""
        mode = self.mode
        if not needs_stack(modules):
            return False  # no component of this pipeline would go to a worker
        if mode == "auto":
            if stack_imported(modules):
                mode = "inline"
            else:
                try:
                    from penstock.runtime.workers import daemon

                    mode = "daemon" if daemon.running() else "inline"
                except Exception as e:  # looking for a daemon must never fail a run
                    _log.warning("cannot look for a warm daemon (%s: %s); running in this process",
                                 type(e).__name__, e)
                    mode = "inline"
        if mode == "inline":
            return False
        self.mode = mode
        self.preload = list(dict.fromkeys(modules))  # the worker skips what it has already
        self._active = True
        # Start now, so the imports overlap the first components; a failure shows on first use.
        threading.Thread(target=self._start_quietly, name="penstock-worker-start", daemon=True).start()
        return True

    def _start_quietly(self) -> None:
        try:
            self._ensure_worker()
        except WorkerSetupError as e:  # the first execution tries again and falls back to this process
            _log.debug("starting the worker: %s", e)

    @staticmethod
    def could_accept(node: Any, runner: str | None, pipeline_root: str) -> bool:
        """Before the run: whether ``node`` may go to a worker at all (a pipeline with no such
        node starts none, and preloads in this process instead)."""
        return (needs_stack(node.HEAVY_MODULES) and _importable(node.EXECUTOR) and runner in LOCAL_RUNNERS
                and _is_local(pipeline_root))

    def accepts(self, node: Any, ctx: Any, runner: str | None) -> bool:
        return (
            self._active
            and self.could_accept(node, runner, ctx.pipeline_root)
            and all(_is_local(uri) for uri in _uris(ctx))
        )

    def execute(self, node: Any, ctx: Any) -> None:
        try:
            worker = self._ensure_worker()
        except WorkerSetupError as e:
            # Never fail a component for want of a worker: run it here, as without one.
            with self._lock:
                if self._active:
                    _log.warning("%s; running the components in this process instead", e)
                self._active = False
            _run_here(node, ctx)
            return
        try:
            worker.execute(node.id, node.EXECUTOR, ctx)
        except NotSendableError as e:
            _log.info("%s runs in this process: its context does not pickle (%s)", node.id, e)
            _run_here(node, ctx)

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            worker, self._worker = self._worker, None
            self._active = False
        if worker is not None:
            worker.close()

    # -- workers ------------------------------------------------------------------------------
    def _ensure_worker(self) -> WorkerClient:
        with self._lock:
            if self._worker is not None and self._worker.alive:
                return self._worker
            if not self._active:
                raise WorkerSetupError("this run's workers were closed")
            if self._worker is not None:
                _log.warning("worker process %s ended; starting another for the next components",
                             self._worker.pid)
            try:
                self._worker = self._new_worker()
            except WorkerSetupError:
                raise
            except Exception as e:  # whatever went wrong, the components can still run here
                raise WorkerSetupError(f"cannot start a worker process: {type(e).__name__}: {e}") from e
            self.workers_started += 1
            _log.info("heavy components run in worker process %s (%s)", self._worker.pid, self._worker.origin)
            return self._worker

    def _new_worker(self) -> WorkerClient:
        setup = protocol.Setup(environ=dict(os.environ), cwd=os.getcwd(), sys_path=list(sys.path),
                               umask=_current_umask(), log_levels=_log_levels(), preload=self.preload)
        if self.mode == "daemon":
            from penstock.runtime.workers import daemon

            conn = daemon.connect(start_if_needed=True)
            # A daemon still importing the stack forks the worker when it is done.
            return _handshake(conn, setup, origin="forked by the warm daemon", process=None,
                              timeout=DAEMON_READY_SECONDS, closing=self._closing)
        return spawn(setup, closing=self._closing)


def _run_here(node: Any, ctx: Any) -> None:
    """Run the executor in this process, exactly as a run without workers does."""
    from penstock.runtime import faults

    with faults.component_exits_contained():
        node.executor_fn()(ctx)


def spawn(setup: protocol.Setup, closing: threading.Event | None = None) -> WorkerClient:
    """Start a worker process of this interpreter, connected to this one by a socket pair."""
    ours, theirs = socket.socketpair()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "penstock.runtime.workers.process", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=setup.environ, cwd=setup.cwd,
        )
    except OSError as e:
        ours.close()
        raise WorkerSetupError(f"cannot start a worker process ({sys.executable}): {e}") from e
    finally:
        theirs.close()
    return _handshake(Connection(ours.detach()), setup, origin="spawned by this run", process=process,
                      timeout=SPAWN_READY_SECONDS, closing=closing)


def _handshake(conn: Connection, setup: protocol.Setup, *, origin: str, process: subprocess.Popen[bytes] | None,
               timeout: float, closing: threading.Event | None = None) -> WorkerClient:
    """Send the run's setup, wait for the worker's READY. A worker that does not answer within
    ``timeout`` (or the run closing meanwhile) is given up, so the run never hangs on one."""
    deadline = time.monotonic() + timeout
    try:
        conn.send((protocol.HELLO, setup))
        while not conn.poll(0.1):
            if (closing is not None and closing.is_set()) or time.monotonic() > deadline:
                conn.close()
                if process is not None:
                    process.kill()
                    process.wait()
                why = "the run is ending" if closing is not None and closing.is_set() else f"no answer in {timeout:.0f} s"
                raise WorkerSetupError(f"the worker process ({origin}) was given up before it was ready: {why}")
        kind, pid = conn.recv()
    except (EOFError, OSError) as e:
        conn.close()
        status = describe_returncode(process) if process is not None else str(e) or type(e).__name__
        raise WorkerSetupError(f"the worker process ({origin}) ended before it was ready: {status}") from e
    if kind != protocol.READY:
        conn.close()
        raise WorkerSetupError(f"the worker process ({origin}) answered {kind!r} instead of {protocol.READY!r}")
    exit_status = (lambda: describe_returncode(process)) if process is not None else None
    return WorkerClient(conn, pid, origin=origin, process=process, exit_status=exit_status)


def _log_levels() -> dict[str, int]:
    """The levels set on this process's loggers ("" for the root): the worker drops what this
    process would, before sending it."""
    levels = {"": logging.getLogger().level}
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels[name] = logger.level
    return levels


def _current_umask() -> int:
    """Read, not set and reset: setting it, even for an instant, would race other threads."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def _importable(executor: Any) -> bool:
    """A ``"module:function"`` executor the worker can import by name, as this process can (a
    function, or a module this process loaded from a file path, cannot travel)."""
    if not isinstance(executor, str) or ":" not in executor:
        return False
    # Looked up on sys.path, not in sys.modules: a module loaded under a made-up name is there too.
    top = executor.partition(":")[0].split(".")[0]
    try:
        return importlib.machinery.PathFinder.find_spec(top, sys.path) is not None
    except (ImportError, ValueError):
        return False


def _uris(ctx: Any) -> list[str]:
    uris = [a.uri for artifacts in ctx.inputs.values() for a in artifacts]
    uris += [a.uri for a in ctx.outputs.values()]
    return [*uris, ctx.pipeline_root, ctx.temp_uri]


def _is_local(uri: str) -> bool:
    from penstock.storage.filesystem import scheme

    return not uri or not scheme(uri)
