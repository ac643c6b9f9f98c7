"""The warm daemon: a process that imported the TensorFlow stack once, and forks a worker per run.

Opt in with ``penstock warm`` (or ``PENSTOCK_WORKER=daemon``): the daemon imports TensorFlow,
Beam, TFDV, TFT, TFMA and penstock's executors, then waits on a unix socket. Each run that
connects gets a fresh fork of it (the imports are shared copy-on-write), which takes the run's
environment, working directory, ``sys.path``, umask and output streams, serves that run only
and ends with it. The daemon itself never runs a component or imports user code, so nothing a
run does, its user modules included, is seen by another run, and a worker that crashes takes
nothing else with it. The daemon leaves after ``--idle-timeout`` seconds without a run.

One daemon per environment: the key hashes the interpreter, ``PYTHONPATH``, penstock's source
files, the heavy libraries' installations and the variables they read when imported (``TF_*``,
``KERAS_*``, ...), so a run never gets a worker whose imports differ from what its own process
would have imported. Its socket, pid and log live in ``$TMPDIR/penstock-<uid>/`` (mode 0700; under a TMPDIR too long
for a unix socket path, the socket in ``/tmp/penstock-<uid>/``).

    python -m penstock.runtime.workers.daemon KEY IDLE_TIMEOUT    # what ``penstock warm`` starts
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import gc
import hashlib
import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from penstock.runtime.workers.host import STACK_PREFIXES, WorkerSetupError

DEFAULT_IDLE_TIMEOUT = 900.0
_MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, with its terminating NUL
# Variables the heavy libraries read when they are imported: a daemon that imported them under
# other values would not behave as the run's own process would.
IMPORT_TIME_VARIABLES = ("TF_", "KERAS_", "CUDA", "XLA_", "OMP_", "MKL_", "GRPC_", "LD_", "PYTHON",
                         "PENSTOCK_VERBOSE")


@dataclasses.dataclass(frozen=True)
class Paths:
    key: str

    @property
    def folder(self) -> str:
        return os.path.join(tempfile.gettempdir(), f"penstock-{os.getuid()}")

    def file(self, suffix: str) -> str:
        return os.path.join(self.folder, f"warm-{self.key}.{suffix}")

    @property
    def socket(self) -> str:
        path = self.file("sock")
        if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
            return path
        # A unix socket's path holds at most 107 bytes: under a long TMPDIR, a short folder of this
        # user's in /tmp, the socket named after the long folder too (a daemon per TMPDIR, as above).
        digest = hashlib.sha256(os.fsencode(self.folder)).hexdigest()[:12]
        return os.path.join(self.short_folder, f"warm-{self.key}-{digest}.sock")

    @property
    def short_folder(self) -> str:
        return os.path.join("/tmp", f"penstock-{os.getuid()}")

    def make_folders(self) -> None:
        _make_folder(self.folder)
        if os.path.dirname(self.socket) != self.folder:
            _make_folder(self.short_folder)

    @property
    def lock(self) -> str:
        return self.file("lock")

    @property
    def state(self) -> str:
        return self.file("json")

    @property
    def log(self) -> str:
        return self.file("log")


def stack_modules() -> list[str]:
    """The heavy modules of penstock's standard components, and their executor modules."""
    components = importlib.import_module("penstock.components")  # declarations: nothing heavy

    heavy: list[str] = []
    executors: list[str] = []
    for name in components.__all__:
        cls = getattr(components, name)
        heavy.extend(cls.HEAVY_MODULES)
        if isinstance(cls.EXECUTOR, str) and cls.EXECUTOR.startswith("penstock."):
            executors.append(cls.EXECUTOR.partition(":")[0])
    first = sorted({m for m in heavy if m.split(".")[0].startswith(STACK_PREFIXES)})
    return [*first, *sorted(set(heavy) - set(first)), *sorted(set(executors))]


def environment_key() -> str:
    """What must match for a run to use a daemon (see the module's doc)."""
    import penstock

    digest = hashlib.sha256()
    for part in (sys.executable, sys.version, os.environ.get("PYTHONPATH", "")):
        digest.update(part.encode() + b"\0")
    for name, value in sorted(_import_environment().items()):
        if name.startswith(IMPORT_TIME_VARIABLES):
            digest.update(f"{name}={value}\0".encode())
    package = os.path.dirname(os.path.abspath(penstock.__file__))
    for folder, dirs, files in sorted(os.walk(package)):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}:{stat.st_size}:{stat.st_mtime_ns}\0".encode())
    for top in sorted({m.split(".")[0] for m in stack_modules() if not m.startswith("penstock.")}):
        spec = importlib.util.find_spec(top)
        origin = spec.origin if spec is not None and spec.origin else ""
        mtime = os.stat(origin).st_mtime_ns if origin and os.path.exists(origin) else 0
        digest.update(f"{top}:{origin}:{mtime}\0".encode())
    return digest.hexdigest()[:16]


def _import_environment() -> dict[str, str]:
    """The environment as the daemon imports under it: with what penstock sets anyway (a run's
    process has set it by the time it looks for a daemon; ``penstock warm``'s may not have)."""
    from penstock import _env

    environ = {**_env.KERAS_2, **os.environ}
    if not environ.get("PENSTOCK_VERBOSE"):
        environ = {**_env.QUIET_VARIABLES, **environ}
    return environ


# -- the client side ------------------------------------------------------------------------------
def _locked(paths: Paths) -> bool:
    """Whether a daemon holds this environment's lock (it does for its whole life)."""
    try:
        fd = os.open(paths.lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock if we got it
    return False


def running(key: str | None = None) -> bool:
    paths = Paths(key or environment_key())
    return _locked(paths) and os.path.exists(paths.socket)


def status(key: str | None = None) -> dict[str, Any] | None:
    """The running daemon's state (pid, started, ready, idle timeout, runs), or None."""
    paths = Paths(key or environment_key())
    if not _locked(paths):
        return None
    try:
        with open(paths.state) as f:
            state: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        return {"key": paths.key, "ready": False}
    return state


def start(idle_timeout: float = DEFAULT_IDLE_TIMEOUT, *, wait_ready: bool = False, timeout: float = 600.0) -> dict[str, Any]:
    """Start this environment's daemon unless one runs; return its state once it listens (and
    has finished importing, with ``wait_ready``)."""
    key = environment_key()
    paths = Paths(key)
    process = None
    if not _locked(paths):
        paths.make_folders()
        with open(paths.log, "ab") as log:
            # Its own session: a Ctrl-C meant for the run that started it does not reach it.
            process = subprocess.Popen(
                [sys.executable, "-m", "penstock.runtime.workers.daemon", key, str(idle_timeout)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = status(key)
        if state is not None and os.path.exists(paths.socket) and (state.get("ready") or not wait_ready):
            return state
        if state is None and process is not None and process.poll() is not None:
            # It ended without holding the lock: it failed (a daemon that lost a race leaves the winner's lock).
            raise WorkerSetupError(f"the warm daemon ended at start (exit code {process.returncode}); its log: {paths.log}")
        time.sleep(0.1)
    raise WorkerSetupError(f"the warm daemon did not get ready within {timeout:.0f} s; its log: {paths.log}")


def stop(key: str | None = None, timeout: float = 10.0) -> int | None:
    """Stop this environment's daemon (runs it is serving go on); its pid, or None if none ran."""
    state = status(key)
    if not state or not state.get("pid"):
        return None
    pid = int(state["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    paths = Paths(state.get("key") or key or environment_key())
    deadline = time.monotonic() + timeout
    while _locked(paths) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def connect(*, start_if_needed: bool = True) -> Connection:
    """A connection to a fresh worker forked for the caller, which gets this process's stdout
    and stderr. Starts the daemon first if none runs (and ``start_if_needed``)."""
    key = environment_key()
    paths = Paths(key)
    if not running(key):
        if not start_if_needed:
            raise WorkerSetupError("no warm daemon runs for this environment (start one: penstock warm)")
        start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(paths.socket)
        socket.send_fds(sock, [b"stdio"], [1, 2])
    except OSError as e:
        sock.close()
        raise WorkerSetupError(f"cannot reach the warm daemon at {paths.socket}: {e}") from e
    return Connection(sock.detach())


def _make_folder(folder: str) -> None:
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if os.stat(folder).st_uid != os.getuid():
        raise WorkerSetupError(f"{folder} belongs to another user: not using it for penstock's warm daemon")


# -- the daemon ----------------------------------------------------------------------------------
class _Daemon:
    def __init__(self, key: str, idle_timeout: float) -> None:
        self.paths = Paths(key)
        self.idle_timeout = idle_timeout
        self.children: set[int] = set()
        self.runs = 0
        self.stopping = False
        self.state: dict[str, Any] = {"key": key, "pid": os.getpid(), "started": time.time(), "ready": False,
                                      "idle_timeout": idle_timeout, "runs": 0}

    def write_state(self, **changes: Any) -> None:
        self.state.update(changes)
        tmp = self.paths.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f)
        os.replace(tmp, self.paths.state)

    @contextlib.contextmanager
    def owned(self) -> Iterator[int]:
        """Hold the environment's lock for the daemon's life; leave no files behind but its log
        (what it printed, for a daemon that failed)."""
        self.paths.make_folders()
        lock = os.open(self.paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.exit(0)  # another daemon of this environment won the race
        try:
            yield lock
        finally:
            for path in (self.paths.socket, self.paths.state, self.paths.lock):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            os.close(lock)

    def import_stack(self) -> float:
        from penstock import _env
        from penstock.runtime.preload import _import_all

        _env.use_keras_2()
        _env.quiet_libraries()
        started = time.perf_counter()
        _import_all(stack_modules())
        # Objects loaded now are shared with every fork: keep the collector from touching (and
        # so copying) their pages.
        gc.collect()
        gc.freeze()
        return time.perf_counter() - started

    def serve_forever(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with self.owned() as lock:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.paths.socket)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(self.paths.socket)
            listener.listen(16)
            self.write_state()
            # Runs that connect while the stack loads wait in the listen queue.
            self.write_state(ready=True, import_seconds=round(self.import_stack(), 2))
            listener.settimeout(1.0)
            last_activity = time.monotonic()
            while not self.stopping:
                self.reap()
                if self.children:
                    last_activity = time.monotonic()
                elif time.monotonic() - last_activity > self.idle_timeout:
                    break
                try:
                    conn, _ = listener.accept()
                except (TimeoutError, InterruptedError):
                    continue
                except OSError:
                    if self.stopping:
                        break
                    raise
                self.fork_worker(conn, listener, lock)
                last_activity = time.monotonic()
            listener.close()

    def fork_worker(self, conn: socket.socket, listener: socket.socket, lock: int) -> None:
        pid = os.fork()
        if pid == 0:  # the run's worker
            try:
                listener.close()
                os.close(lock)  # the daemon's lock must die with the daemon, not with a worker
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                conn.settimeout(None)
                _, fds, _, _ = socket.recv_fds(conn, 16, 2)
                for target, fd in zip((1, 2), fds):
                    os.dup2(fd, target)
                    os.close(fd)
                from penstock.runtime.workers.process import serve

                serve(Connection(conn.detach()), forked=True)
            finally:
                os._exit(1)  # serve() never returns; nothing of the daemon's may run in a worker
        conn.close()
        self.children.add(pid)
        self.runs += 1
        self.write_state(runs=self.runs, last_run=time.time())

    def reap(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
            self.children.discard(pid)


def main() -> None:
    key, idle_timeout = sys.argv[1], float(sys.argv[2])
    if key != environment_key():
        sys.exit("penstock warm daemon: started for another environment than its own; not serving")
    _Daemon(key, idle_timeout).serve_forever()


if __name__ == "__main__":
    main()
