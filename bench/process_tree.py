"""Runs a command and measures it as a whole: wall time, and the summed RSS and CPU seconds of
its process tree (the run's own process, Beam's or TFX's children, a worker it spawned) sampled
while it runs. Shared by the TFX comparisons (``vs_tfx.py``, ``vs_tfx_scale.py``) so that both
systems, and both benchmarks, are measured by the same rules.

A process that ended between two samples counts with its last sampled CPU seconds, so short-lived
children count too; ``adopted`` processes (a warm daemon whose forked workers serve the run) count
with their descendants.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any

import psutil


class ProcessTreeMonitor:
    """Samples (epoch time, summed RSS bytes, summed CPU seconds) every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float, adopted: list[int] | None = None) -> None:
        self.root = psutil.Process(pid)
        self.adopted = [psutil.Process(p) for p in adopted or []]
        self.interval = interval
        self.samples: list[tuple[float, int, float]] = []
        self.peak_bytes = 0
        self.peak_processes = 0
        self._cpu: dict[tuple[int, float], float] = {}  # (pid, create time) -> latest CPU seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
            for parent in self.adopted:
                procs += parent.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        rss = 0
        for proc in procs:
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    cpu = proc.cpu_times()
                    self._cpu[(proc.pid, proc.create_time())] = cpu.user + cpu.system
            except psutil.NoSuchProcess:
                continue
        self.samples.append((time.time(), rss, sum(self._cpu.values())))
        if rss > self.peak_bytes:
            self.peak_bytes, self.peak_processes = rss, len(procs)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> ProcessTreeMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_seconds(self) -> float:
        return self.samples[-1][2] if self.samples else 0.0

    def window(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds and peak RSS between two times (epoch seconds), e.g. one component's."""
        before = [s for s in self.samples if s[0] <= start] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= end] or self.samples[-1:]
        inside = [s[1] for s in self.samples if start <= s[0] <= end] or [before[-1][1], after[0][1]]
        return {"cpu_seconds": round(max(0.0, after[0][2] - before[-1][2]), 2),
                "peak_rss_mb": round(max(inside) / 2**20, 1)}


def run_measured(cmd: list[str], env: dict[str, str], cwd: str, log_path: str, *, interval: float,
                 adopted: list[int] | None = None) -> tuple[dict[str, Any], ProcessTreeMonitor]:
    """Run ``cmd`` to completion, its output appended to ``log_path``: (figures, the monitor)."""
    load_before = os.getloadavg()
    with open(log_path, "ab") as log:
        log.write(f"\n$ {' '.join(cmd)}\n".encode())
        log.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        with ProcessTreeMonitor(proc.pid, interval, adopted) as monitor:
            returncode = proc.wait()
        wall = time.perf_counter() - t0
    return {
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(monitor.cpu_seconds, 2),
        "peak_rss_mb": round(monitor.peak_bytes / 2**20, 1),
        "processes_at_peak": monitor.peak_processes,
        "returncode": returncode,
        "loadavg_before": [round(x, 2) for x in load_before],
        "log": log_path,
    }, monitor
