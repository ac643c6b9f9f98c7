"""Run progress for humans: one concise log line per component start and finish, and a live
table of component states while a run is going (only on an interactive terminal)."""

from __future__ import annotations

import threading
import time
from typing import Any

from penstock.metadata.states import ExecutionState
from penstock.runtime.node_execution import NodeOutcome

_SYMBOLS = {ExecutionState.COMPLETE: "✓", ExecutionState.CACHED: "↺", ExecutionState.REUSED: "↺", ExecutionState.FAILED: "✗",
            ExecutionState.SKIPPED: "·", ExecutionState.CANCELED: "✗"}
_STYLES: dict[str, str] = {ExecutionState.COMPLETE: "green", ExecutionState.CACHED: "cyan", ExecutionState.REUSED: "cyan",
                           ExecutionState.FAILED: "red", ExecutionState.SKIPPED: "yellow", ExecutionState.RUNNING: "blue",
                           ExecutionState.CANCELED: "red"}


class ConsoleProgress:
    """A RunObserver printing log lines, plus a live table when stderr is a terminal."""

    def __init__(self, node_ids: list[str], live: bool | None = None) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        if not self.console.is_terminal:
            # In a log (CI, a pod's or an Airflow task's output) a message stays on its line: rich
            # would break it at 80 columns, mid-sentence, where nothing can unwrap it.
            self.console.soft_wrap = True
        self.node_ids = node_ids
        self.states: dict[str, str] = dict.fromkeys(node_ids, "WAITING")
        self.started: dict[str, float] = {}
        self.durations: dict[str, float] = {}
        self._lock = threading.Lock()
        self._live: Any = None
        use_live = self.console.is_terminal if live is None else live
        if use_live:
            from rich.live import Live

            self._live = Live(self._table(), console=self.console, refresh_per_second=4, transient=True)

    def __enter__(self) -> ConsoleProgress:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, show_header=False, padding=(0, 1))
        now = time.perf_counter()
        for nid in self.node_ids:
            state = self.states.get(nid, "WAITING")
            if state == ExecutionState.RUNNING:
                elapsed = f"{now - self.started[nid]:6.1f} s"
            elif nid in self.durations:
                elapsed = f"{self.durations[nid]:6.2f} s"
            else:
                elapsed = ""
            style = _STYLES.get(state, "dim")  # "WAITING" has no style of its own
            table.add_row(f"[{style}]{state.lower():9}[/]", nid, elapsed)
        return table

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table())

    def _log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.console.print(f"[dim]{stamp}[/] {text}")

    def node_started(self, node_id: str) -> None:
        with self._lock:
            self.states[node_id] = ExecutionState.RUNNING
            self.started[node_id] = time.perf_counter()
            self._log(f"[blue]▶[/] {node_id}")
            self._refresh()

    def node_finished(self, outcome: NodeOutcome) -> None:
        with self._lock:
            self.states[outcome.node_id] = outcome.state
            self.durations[outcome.node_id] = outcome.duration_s
            style = _STYLES.get(outcome.state, "")
            symbol = _SYMBOLS.get(outcome.state, "?")
            detail = ""
            if outcome.state in (ExecutionState.CACHED, ExecutionState.REUSED):
                detail = " (cached)" if outcome.state == ExecutionState.CACHED else " (resumed)"
            if outcome.error:
                detail = f": {outcome.error}"
            self._log(f"[{style}]{symbol}[/] {outcome.node_id} [dim]{outcome.duration_s:.2f} s[/]{detail}")
            self._refresh()

    def run_stopping(self, message: str) -> None:
        with self._lock:
            self._log(f"[yellow]■[/] {message}")

    def node_retrying(self, node_id: str, attempt: int, error: str) -> None:
        with self._lock:
            self._log(f"[yellow]↻[/] {node_id} attempt {attempt} failed, retrying: {error}")
