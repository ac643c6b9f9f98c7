"""What a run and its worker process say to each other, over a ``multiprocessing`` connection.

run -> worker: ``(HELLO, Setup)`` once, then ``(EXECUTE, request id, "module:function", ctx)``.
worker -> run: ``(READY, pid)``, then per execution ``(RESULT, request id, outputs)`` or
``(FAILURE, request id, outputs, PackedError)``, and at any time ``(LOG, record fields)`` and
``(OUTPUT, "stdout" | "stderr", text)``.

Failures travel as their exception chain (``__cause__`` links, which decide whether an error is
retried: ``penstock.runtime.faults``), each exception pickled when it survives a round trip and
otherwise replaced by a stand-in of the same class name, nearest penstock or builtin base class
and message; the worker's traceback rides along as the innermost cause, so the execution's
recorded traceback shows where in the worker it failed. The outputs come back with failures too:
a validation gate fails *after* writing the anomalies it reports.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib
import itertools
import logging
import pickle
import traceback
from typing import Any

HELLO, EXECUTE = "hello", "execute"
READY, RESULT, FAILURE, LOG, OUTPUT = "ready", "result", "failure", "log", "output"


@dataclasses.dataclass
class Setup:
    """The run's process as a worker forked from a daemon must reproduce it (a worker the run
    spawned itself inherits all of it, and applies it all the same)."""

    environ: dict[str, str]
    cwd: str
    sys_path: list[str]
    umask: int
    log_levels: dict[str, int]  # logger name ("" for the root) -> level set in the run's process
    preload: list[str]


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process (its text is the message)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0]) if self.args else ""


@dataclasses.dataclass
class PackedError:
    chain: list[bytes | dict[str, Any]]  # outermost first: pickled, or a stand-in's description
    description: str  # penstock.runtime.user_code.describe_user_exception of the outermost
    traceback: str


def _round_trips(error: BaseException) -> bytes | None:
    try:
        data = pickle.dumps(error)
        pickle.loads(data)
    except Exception:  # any failure to pickle or rebuild means: send a stand-in
        return None
    return data


def pack_error(error: BaseException) -> PackedError:
    from penstock.runtime.user_code import describe_user_exception

    chain: list[bytes | dict[str, Any]] = []
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        data = _round_trips(current)
        chain.append(data if data is not None else {
            "name": type(current).__name__,
            "mro": [f"{c.__module__}:{c.__qualname__}" for c in type(current).__mro__],
            "message": str(current),
            "errno": getattr(current, "errno", None),
        })
        current = current.__cause__
    return PackedError(chain, describe_user_exception(error), "".join(traceback.format_exception(error)))


def _stand_in(info: dict[str, Any]) -> BaseException:
    """An exception of the same class name and message whose class derives from the nearest
    base this process knows for sure (penstock's errors, builtins), so ``isinstance`` checks
    and the retry rules (which also look at class names) decide as they would have."""
    base: type[BaseException] = Exception
    for ref in info["mro"]:
        module, _, name = ref.partition(":")
        if module not in ("builtins", "penstock.errors"):
            continue
        found = getattr(builtins if module == "builtins" else importlib.import_module(module), name, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            base = found
            break
    cls = type(info["name"], (base,), {"__module__": "penstock.runtime.workers.remote"})
    error: BaseException = base.__new__(cls)
    BaseException.__init__(error, info["message"])
    if info.get("errno") is not None and isinstance(error, OSError):
        error.errno = info["errno"]
    return error


def unpack_error(packed: PackedError) -> BaseException:
    chain: list[BaseException] = [
        pickle.loads(item) if isinstance(item, bytes) else _stand_in(item) for item in packed.chain
    ]
    for outer, inner in itertools.pairwise(chain):
        outer.__cause__ = inner
    chain[-1].__cause__ = RemoteTraceback(packed.traceback)
    # describe_user_exception reads the failing user frame from the traceback, which stayed in
    # the worker: it was described there.
    setattr(chain[0], "__penstock_description__", packed.description)  # noqa: B010  (an attribute of our own)
    return chain[0]


# -- log records -------------------------------------------------------------------------------
_RECORD_FIELDS = ("name", "levelno", "levelname", "pathname", "filename", "module", "lineno", "funcName",
                  "created", "msecs", "relativeCreated", "thread", "threadName", "process")


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """A log record as plain values: the message formatted here, exceptions as text."""
    fields = {name: getattr(record, name, None) for name in _RECORD_FIELDS}
    fields["msg"] = record.getMessage()
    fields["args"] = None
    if record.exc_info:
        fields["exc_text"] = "".join(traceback.format_exception(*record.exc_info))
    elif record.exc_text:
        fields["exc_text"] = record.exc_text
    return fields


def emit_record(fields: dict[str, Any]) -> None:
    """Hand a worker's record to this process's logging, as if it had been logged here."""
    logger = logging.getLogger(fields["name"])
    if logger.isEnabledFor(fields["levelno"]):
        logger.handle(logging.makeLogRecord(fields))
