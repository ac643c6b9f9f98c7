"""The states of executions, runs and node outcomes, one enum for all of them.

Executions are recorded in ML Metadata with its own states (NEW, RUNNING, COMPLETE, FAILED,
CACHED, CANCELED); runs keep theirs in the run context (RUNNING, COMPLETE, FAILED, CANCELED).
SKIPPED and REUSED are outcomes of a run that are never recorded as executions: a component
not run because something upstream failed, and one whose outputs a resumed run took from its
earlier attempt. A ``StrEnum``, so states read back from the store compare equal to members.
"""

from __future__ import annotations

import enum


class ExecutionState(enum.StrEnum):
    UNKNOWN = "UNKNOWN"
    NEW = "NEW"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CACHED = "CACHED"
    CANCELED = "CANCELED"
    SKIPPED = "SKIPPED"
    REUSED = "REUSED"

    @property
    def succeeded(self) -> bool:
        return self in SUCCEEDED

    @property
    def ended(self) -> bool:
        return self not in (ExecutionState.NEW, ExecutionState.RUNNING, ExecutionState.UNKNOWN)


# Outputs usable downstream: produced now, reused from an identical execution, or from the attempt resumed.
SUCCEEDED = frozenset({ExecutionState.COMPLETE, ExecutionState.CACHED, ExecutionState.REUSED})
# As ML Metadata numbers Execution.State.
MLMD_ORDER = (ExecutionState.UNKNOWN, ExecutionState.NEW, ExecutionState.RUNNING, ExecutionState.COMPLETE,
              ExecutionState.FAILED, ExecutionState.CACHED, ExecutionState.CANCELED)
