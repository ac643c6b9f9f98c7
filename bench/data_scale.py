"""Data-component scale benchmark: CsvExampleGen + StatisticsGen on taxi-shaped CSVs.

Generates taxi-shaped CSVs (default 1M and 4M rows) deterministically (seeded) from
examples/taxi/data/taxi.csv: every column is resampled from that column's observed values,
so types and missing-value rates match. Each measurement runs in a fresh child process while
this process samples the memory (RSS) of the child and all its descendants (Beam workers).

Measured per size: a plain pyarrow CSV read of the same file (the physical ceiling; wall time
with pyarrow's threads and CPU seconds), and ExampleGen + StatisticsGen wall time, CPU seconds
(all threads), rows/s and peak summed memory in four modes: the default (no runner chosen:
penstock's in-process engine), Beam's DirectRunner in-memory (``--runner=DirectRunner``), its
multi-processing mode, and penstock's DaskRunner on a two-worker dask.distributed LocalCluster.
"Per core" ratios compare CPU seconds, so using more cores does not flatter them. Prints figures and ratios; writes bench/results/data_scale.json.

    .venv/bin/python bench/data_scale.py                 # 1M and 4M rows
    .venv/bin/python bench/data_scale.py --rows 100000   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
TAXI_CSV = ROOT / "examples" / "taxi" / "data" / "taxi.csv"
DATA_DIR = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results" / "data_scale.json"
SEED = 20240601
MODES = {
    "in_memory": [],
    "beam_in_memory": ["--runner=DirectRunner"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    # penstock's Dask runner on a 2-worker LocalCluster, started by each component (included).
    "dask": ["--runner=DaskRunner", "--dask_local_workers=2"],
}


# -- data generation -----------------------------------------------------------------------------


def generate(rows: int) -> pathlib.Path:
    """A taxi-shaped CSV of ``rows`` rows (reused if it already exists: generation is seeded)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    path = DATA_DIR / f"taxi_{rows}.csv"
    if path.exists():
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Typed like the original (numbers unquoted when written); nulls are written as empty cells.
    source = pcsv.read_csv(TAXI_CSV)
    names = source.column_names
    rng = np.random.default_rng(SEED)
    chunk = 250_000
    tmp = path.with_suffix(".tmp")
    with pcsv.CSVWriter(str(tmp), source.schema) as writer:
        done = 0
        while done < rows:
            n = min(chunk, rows - done)
            columns = [source.column(i).take(pa.array(rng.integers(0, source.num_rows, n))) for i in range(len(names))]
            writer.write_table(pa.table(columns, names=names))
            done += n
    tmp.rename(path)
    return path


# -- one measurement per child process -----------------------------------------------------------


def child_pyarrow(path: str) -> dict[str, Any]:
    import pyarrow.csv as pcsv

    # Best of three: a ceiling should not be inflated by a cold page cache or a busy moment
    # (one cold read measured 1.32 CPU s against 0.52 warm).
    runs = []
    for _ in range(3):
        start, cpu = time.perf_counter(), time.process_time()
        table = pcsv.read_csv(path)
        runs.append((time.perf_counter() - start, time.process_time() - cpu))
        rows, table = table.num_rows, None
    return {"seconds": min(r[0] for r in runs), "cpu_seconds": min(r[1] for r in runs), "rows": rows}


def child_components(path: str, mode: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    # Import the heavy libraries before timing: their import cost is paid once per process.
    import apache_beam  # noqa: F401
    import tensorflow_data_validation  # noqa: F401

    from penstock.components.example_gen import executor as example_gen_executor
    from penstock.components.statistics_gen import executor as statistics_gen_executor
    from penstock.dsl.standard_artifacts import Examples, ExampleStatistics
    from penstock.runtime.context import ExecutorContext

    work = pathlib.Path(tempfile.mkdtemp(prefix="penstock-bench-"))
    examples = Examples(uri=str(work / "examples"))
    statistics = ExampleStatistics(uri=str(work / "statistics"))

    def ctx(component_id: str, inputs: dict, outputs: dict, parameters: dict) -> ExecutorContext:
        return ExecutorContext(
            pipeline_name="bench", run_id="bench", component_id=component_id, execution_id=1,
            inputs=inputs, outputs=outputs, parameters=parameters, beam_pipeline_args=MODES[mode],
            tmp_dir=str(work / "tmp"), pipeline_root=str(work),
        )

    start, cpu = time.perf_counter(), time.process_time()
    example_gen_executor.run_csv(
        ctx("CsvExampleGen", {}, {"examples": examples},
            {"input_base": os.path.dirname(path), "input_pattern": os.path.basename(path)})
    )
    example_gen_s, example_gen_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    statistics_gen_executor.run(ctx("StatisticsGen", {"examples": [examples]}, {"statistics": statistics}, {}))
    statistics_gen_s, statistics_gen_cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = sum(json.loads(examples.custom_properties["row_counts"]).values())
    # CPU of this process only: Beam's multi-processing workers are not counted.
    return {"example_gen_s": example_gen_s, "statistics_gen_s": statistics_gen_s, "rows": rows,
            "example_gen_cpu_s": round(example_gen_cpu, 2), "statistics_gen_cpu_s": round(statistics_gen_cpu, 2)}


# -- parent: run a child, sample its process tree's memory ---------------------------------------------


def measure(args: list[str]) -> dict[str, Any]:
    import psutil

    proc = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        try:
            parent = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            total = 0
            try:
                for p in [parent, *parent.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                break
            peak = max(peak, total)
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"measurement {args} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_memory_mb"] = round(peak / 2**20, 1)
    return result


def bench_size(rows: int, modes: list[str]) -> dict[str, Any]:
    path = generate(rows)
    size_mb = path.stat().st_size / 2**20
    print(f"\n== {rows:,} rows ({size_mb:.0f} MB): {path}", flush=True)
    entry: dict[str, Any] = {"rows": rows, "file_mb": round(size_mb, 1)}
    ceiling = measure(["--child", "pyarrow", str(path)])
    ceiling["rows_per_s"] = round(rows / ceiling["seconds"])
    entry["pyarrow_read"] = ceiling
    print(f"  pyarrow read_csv:           {ceiling['seconds']:7.2f} s ({ceiling['cpu_seconds']:.2f} CPU s)  "
          f"{ceiling['rows_per_s']:>10,} rows/s  peak {ceiling['peak_memory_mb']:,.0f} MB", flush=True)
    for mode in modes:
        r = measure(["--child", mode, str(path)])
        assert r["rows"] == rows, f"{mode}: ExampleGen wrote {r['rows']} rows, expected {rows}"
        total = r["example_gen_s"] + r["statistics_gen_s"]
        r.update(
            total_s=round(total, 2),
            rows_per_s=round(rows / total),
            example_gen_rows_per_s=round(rows / r["example_gen_s"]),
            statistics_gen_rows_per_s=round(rows / r["statistics_gen_s"]),
        )
        entry[mode] = r
        print(f"  {mode:<17} ExampleGen {r['example_gen_s']:6.1f} s, StatisticsGen {r['statistics_gen_s']:6.1f} s, "
              f"total {total:6.1f} s  {r['rows_per_s']:>8,} rows/s  peak {r['peak_memory_mb']:,.0f} MB", flush=True)
    if set(modes) != set(MODES):
        return entry
    entry["ratios"] = {
        "example_gen_vs_pyarrow_read": round(entry["in_memory"]["example_gen_s"] / ceiling["seconds"], 1),
        "example_gen_vs_pyarrow_read_per_core": round(entry["in_memory"]["example_gen_cpu_s"] / ceiling["cpu_seconds"], 1),
        "total_vs_pyarrow_read": round(entry["in_memory"]["total_s"] / ceiling["seconds"], 1),
        "total_vs_pyarrow_read_per_core": round(
            (entry["in_memory"]["example_gen_cpu_s"] + entry["in_memory"]["statistics_gen_cpu_s"]) / ceiling["cpu_seconds"], 1
        ),
        "beam_in_memory_vs_in_process_time": round(entry["beam_in_memory"]["total_s"] / entry["in_memory"]["total_s"], 2),
        "multi_processing_vs_in_memory_time": round(entry["multi_processing"]["total_s"] / entry["in_memory"]["total_s"], 2),
        "multi_processing_vs_in_memory_memory": round(
            entry["multi_processing"]["peak_memory_mb"] / entry["in_memory"]["peak_memory_mb"], 2
        ),
        "dask_vs_in_memory_time": round(entry["dask"]["total_s"] / entry["in_memory"]["total_s"], 2),
    }
    print("  ratios: " + ", ".join(f"{k} {v}x" for k, v in entry["ratios"].items()), flush=True)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--only", choices=list(MODES), nargs="+", help="measure only these modes (no ratios, nothing written)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path = args.child
        result = child_pyarrow(path) if mode == "pyarrow" else child_components(path, mode)
        print(json.dumps(result))
        return
    measured = {}
    for rows in args.rows:
        entry = bench_size(rows, args.only or list(MODES))
        entry["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        entry["load_average_1m_after"] = round(os.getloadavg()[0], 2)
        measured[rows] = entry
    if args.only:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # Keep the figures of sizes not re-measured in this run (a quick run does not erase the 4M one).
    previous = json.loads(RESULTS.read_text()).get("sizes", []) if RESULTS.exists() else []
    sizes = {e["rows"]: e for e in previous}
    sizes.update(measured)
    report = {
        "benchmark": "data_scale",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "seed": SEED,
        "sizes": [sizes[r] for r in sorted(sizes)],
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
