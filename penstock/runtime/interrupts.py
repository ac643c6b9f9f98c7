"""Signals during a run, as flags the code running the components acts on.

The first SIGINT (Ctrl-C) asks to start nothing new and let running components finish; a second
SIGINT, or SIGTERM (what ``kill``, Kubernetes and Airflow send), asks to stop now. The handlers
only set flags: the loop that waits for the components looks at them twice a second, because a
handler runs between two bytecodes of the main thread and must not take the locks that thread
may hold.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Interrupts:
    """What signals asked of a run: stop starting components (first Ctrl-C), or stop now."""

    def __init__(self) -> None:
        self.stop_reason = ""  # set: start nothing new
        self.cancel_reason = ""  # set: cancel what runs
        self.signal = 0  # the last signal received

    def on_signal(self, signum: int, _frame: Any) -> None:
        # Only flags here: the scheduler loop acts on them (a handler must not take locks).
        self.signal = signum
        if signum == signal.SIGINT and not self.stop_reason:
            self.stop_reason = "stopped by Ctrl-C (SIGINT)"
        elif signum == signal.SIGINT:
            self.cancel_reason = "canceled by a second Ctrl-C (SIGINT)"
        else:
            self.cancel_reason = f"canceled: the process received {signal.Signals(signum).name}"

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return
        previous = {s: signal.signal(s, self.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
