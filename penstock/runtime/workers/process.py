"""The worker side: run one pipeline run's executions, sent over one connection.

The main thread reads requests; each execution runs in a thread of its own, as components do in
the run's process, so two components of a run may execute at once (the Evaluator and the
InfraValidator). When the connection closes (the run ended, was canceled, or its process died)
the worker ends at once, whatever still runs: the run has recorded what it needed.

Ctrl-C in a terminal reaches every process of the foreground group; the worker ignores it and
lets the run decide (finish the running components, or cancel them and close the connection).

    python -m penstock.runtime.workers.process FD    # FD: a connected socket (a spawned worker)
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from penstock.runtime.workers import protocol


class _Sender:
    """``Connection.send`` is not thread-safe: executions, log records and output share it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def __call__(self, *message: Any) -> None:
        try:
            with self.lock:
                self.conn.send(message)
        except (OSError, ValueError):  # the run is gone: the reader notices and ends the worker
            pass


class _ForwardingHandler(logging.Handler):
    def __init__(self, send: _Sender) -> None:
        super().__init__(logging.NOTSET)
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.send(protocol.LOG, protocol.record_fields(record))
        except Exception:  # a record that cannot be formatted must not fail the component
            self.handleError(record)


class _ForwardingStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of the worker: text goes to the run's own streams, where
    its progress display expects it (Keras progress bars, ``print`` in user code)."""

    def __init__(self, send: _Sender, name: str) -> None:
        self.send, self.name = send, name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self.send(protocol.OUTPUT, self.name, text)
        return len(text)


def _apply(setup: protocol.Setup, send: _Sender, forked: bool) -> None:
    if forked:  # a spawned worker inherited all of this already
        os.environ.clear()
        os.environ.update(setup.environ)
        os.chdir(setup.cwd)
        os.umask(setup.umask)
        _reseed()
    sys.path[:] = setup.sys_path  # e.g. the pipeline file's folder, added when it was loaded
    from penstock import _env

    _env.use_keras_2()
    _env.quiet_libraries()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_ForwardingHandler(send))
    for name, level in setup.log_levels.items():
        logging.getLogger(name or None).setLevel(level)
    sys.stdout = _ForwardingStream(send, "stdout")
    sys.stderr = _ForwardingStream(send, "stderr")


def _reseed() -> None:
    """A forked worker starts with its daemon's random state; a fresh process would not. Python's
    ``random`` reseeds itself after a fork; numpy's global generator does not."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _execute(send: _Sender, request_id: int, executor_ref: str, ctx: Any) -> None:
    from penstock.runtime import faults

    try:
        module, _, name = executor_ref.partition(":")
        executor = getattr(importlib.import_module(module), name)
        with faults.component_exits_contained():
            executor(ctx)
    except BaseException as e:  # every way an executor can end is reported, SystemExit included
        send(protocol.FAILURE, request_id, ctx.outputs, protocol.pack_error(e))
        return
    send(protocol.RESULT, request_id, ctx.outputs)


def serve(conn: Connection, *, forked: bool) -> NoReturn:
    """Serve one run until its connection closes, then end the process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    send = _Sender(conn)
    try:
        kind, setup = conn.recv()
        if kind != protocol.HELLO:
            raise ValueError(f"expected {protocol.HELLO}, got {kind!r}")
        _apply(setup, send, forked)
        if setup.preload:
            from penstock.runtime.preload import start_preloading

            start_preloading(setup.preload)
        send(protocol.READY, os.getpid())
        while True:
            message = conn.recv()
            if message[0] == protocol.EXECUTE:
                _, request_id, executor_ref, ctx = message
                threading.Thread(target=_execute, args=(send, request_id, executor_ref, ctx),
                                 name=f"penstock-{ctx.component_id}", daemon=True).start()
    except (EOFError, OSError):
        pass  # the run closed the connection, or ended
    finally:
        # Not sys.exit: executions may still run in their threads, and they must not outlive the run.
        os._exit(0)


def main() -> None:
    import socket

    sock = socket.socket(fileno=int(sys.argv[1]))
    serve(Connection(sock.detach()), forked=False)


if __name__ == "__main__":
    main()
