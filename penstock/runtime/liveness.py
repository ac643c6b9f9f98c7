"""Which process recorded an execution or a run, and whether that process is gone.

A process killed outright (SIGKILL, the out-of-memory killer, a crash in native code) records
nothing more: its run and executions stay RUNNING. Each of them records the process that owns
it (pid, host, and the process's start time, so a pid reused later is not mistaken for it).
When that process is on this host and no longer exists, nothing can still write under the
record: ``penstock run`` then ends such records as FAILED, ``penstock gc`` collects their files,
and ``penstock runs``/``show`` say so. A record from another host is never judged from here.
"""

from __future__ import annotations

import os
import socket
from typing import Any


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    # Field 22; the command name (field 2) may hold spaces, so count from its closing paren.
    fields = stat[stat.rfind(b")") + 2:].split()
    return fields[19].decode() if len(fields) > 19 else ""


def identity() -> dict[str, Any]:
    """Properties naming this process, recorded with what it owns."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "process_start": _start_time(pid)}


def process_gone(properties: dict[str, Any]) -> bool:
    """True when the recorded owner ran on this host and has ended (False when unsure)."""
    pid, host = properties.get("pid"), properties.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    recorded = properties.get("process_start") or ""
    return bool(recorded) and _start_time(pid) not in ("", recorded)


def describe_gone(properties: dict[str, Any]) -> str:
    return (f"interrupted: process {properties.get('pid')} on {properties.get('host')} ended without recording "
            "a result (killed, crashed, or out of memory)")
