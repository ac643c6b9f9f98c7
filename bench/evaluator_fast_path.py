"""The Evaluator's fast path through TFMA's binary confusion matrices: does it pay?

Runs penstock's side of bench/vs_tfx_scale.py (the taxi pipeline, TFX's module file, its
EvalConfig plus two slicing specs) on ``--rows`` generated rows, alternately with
``PENSTOCK_TFMA_FAST_PATH=0`` (TFMA's own code) and with the fast path (the default), ``--runs``
pairs, and compares the Evaluator's wall and CPU seconds and the whole run's wall time. That the
two give identical metrics and plots is tested, not measured here
(tests/components/test_evaluator_fast_confusion.py). Writes bench/results/evaluator_fast_path.json.

    .venv/bin/python bench/evaluator_fast_path.py [--rows 100000] [--runs 2]
    .venv/bin/python bench/evaluator_fast_path.py --collect OFF.json ON.json ...   # vs_tfx_scale outputs

The machine is shared (2 cores): the load average before each run is recorded with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(BENCH, "results", "evaluator_fast_path.json")


def run_once(rows: int, fast: bool, output: str) -> None:
    subprocess.run([sys.executable, os.path.join(BENCH, "vs_tfx_scale.py"), "--rows", str(rows), "--runs", "1",
                    "--skip-tfx", "--penstock-env", f"PENSTOCK_TFMA_FAST_PATH={int(fast)}", "--output", output],
                   check=True)


def one_run(path: str) -> dict[str, Any]:
    """The penstock run of one vs_tfx_scale output file: fast path or not, its figures."""
    with open(path) as f:
        report = json.load(f)
    env = report["config"].get("penstock_env") or []
    fast = "PENSTOCK_TFMA_FAST_PATH=0" not in env
    (size,) = report["sizes"]
    (run,) = size["runs"]["penstock"]
    evaluator = run["components"]["Evaluator"]
    return {"fast_path": fast, "rows": size["rows"], "wall_seconds": run["wall_seconds"],
            "evaluator_seconds": evaluator["seconds"], "evaluator_cpu_seconds": evaluator["cpu_seconds"],
            "loadavg_before": run["loadavg_before"], "measured_at": size["measured_at"]}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(mode: bool, field: str) -> float:
        return round(statistics.median(r[field] for r in runs if r["fast_path"] is mode), 2)

    summary: dict[str, Any] = {}
    for field in ("evaluator_seconds", "evaluator_cpu_seconds", "wall_seconds"):
        off, on = med(False, field), med(True, field)
        summary[field] = {"tfma": off, "fast_path": on, "ratio": round(on / off, 3) if off else None}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2, help="alternating pairs (TFMA's code, then the fast path)")
    parser.add_argument("--collect", nargs="+", metavar="JSON", help="summarize existing vs_tfx_scale outputs")
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args()

    load_start = os.getloadavg()
    paths = args.collect or []
    if not paths:
        work = tempfile.mkdtemp(prefix="penstock-fast-path-")
        for i in range(args.runs):
            for fast in (False, True):
                path = os.path.join(work, f"{'fast' if fast else 'tfma'}-{i}.json")
                run_once(args.rows, fast, path)
                paths.append(path)
    runs = [one_run(p) for p in paths]
    if {r["fast_path"] for r in runs} != {False, True}:
        sys.exit("error: need runs both with and without the fast path")
    report = {
        "benchmark": "evaluator_fast_path",
        "config": {"pipeline": "bench/vs_tfx_scale.py, penstock only", "rows": sorted({r["rows"] for r in runs}),
                   "runs": len(runs)},
        "summary": summarize(runs),
        "runs": runs,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "loadavg_start": [round(x, 2) for x in min((r["loadavg_before"] for r in runs), key=lambda x: x[0])]
                    if args.collect else [round(x, 2) for x in load_start]},
        "measured_at": max(r["measured_at"] for r in runs) if args.collect else
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(report, f, indent=2)
    for field, s in report["summary"].items():
        print(f"{field:24} TFMA {s['tfma']:8.2f}  fast path {s['fast_path']:8.2f}  ratio {s['ratio']}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
