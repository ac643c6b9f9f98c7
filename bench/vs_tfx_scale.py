"""penstock vs TFX 1.16 on the Chicago taxi pipeline at scale (100k, 1M, 4M rows), component by component.

Both systems run TFX's native-Keras taxi pipeline (``taxi_pipeline_native_keras.py``): the same
module file (``taxi_utils_native_keras.py`` from the tfx wheel; penstock runs a copy whose only
change is the ``FnArgs`` import), the same 1000 train / 150 eval steps, the same EvalConfig
(the example's, plus two slicing specs) and the same Beam mode (DirectRunner in memory, one
worker): bench/taxi_scale/settings.py holds what both sides read. TFX runs bench/tfx/taxi_tfx.py in
its own Python 3.10 virtualenv (bench/tfx/setup.sh); penstock runs bench/taxi_scale/pipeline.py
with ``penstock run``. penstock's pipeline adds an InfraValidator (TFX's needs a model server
binary that does not install here), which runs in parallel with its Evaluator.

Data: taxi-shaped CSVs generated deterministically (seeded) by bench/data_scale.py under
bench/data/ (never committed), one fresh pipeline root and metadata store per run.

Measured per run, by sampling the whole process tree every 0.1 s: wall time, CPU seconds and
the peak of the RSS summed over processes; per component, the same over the window between its
execution's start and end as each system recorded them in its own ML Metadata (a window two
components share, penstock's Evaluator and InfraValidator, counts for both). Systems alternate
within each round. Writes bench/results/vs_tfx_scale.json (sizes not re-measured are kept);
bench/render_readme_table.py turns it into the README's table.

    .venv/bin/python bench/vs_tfx_scale.py                        # 100k and 1M rows, 1 round
    .venv/bin/python bench/vs_tfx_scale.py --rows 100000 --runs 2
    .venv/bin/python bench/vs_tfx_scale.py --rows 4000000 --skip-tfx

The machine is shared (2 cores): the load average before each run is recorded with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

import psutil

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import data_scale  # noqa: E402  (seeded taxi-shaped CSVs)
import vs_tfx  # noqa: E402  (the TFX venv, penstock's MLMD times)
from process_tree import ProcessTreeMonitor, run_measured  # noqa: E402

REPO = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results", "vs_tfx_scale.json")
TAXI_SCALE = os.path.join(BENCH, "taxi_scale")
TFX_SCRIPT = os.path.join(BENCH, "tfx", "taxi_tfx.py")
SAMPLE_SECONDS = 0.1
# From the project's issue: end to end <= 0.35x TFX at 1M rows, every component <= 0.7x and
# none slower, peak memory <= TFX's and flat (here: within 1.25x) from 100k to 1M rows.
TARGETS = {"end_to_end_wall": 0.35, "component_wall": 0.7, "peak_memory": 1.0, "memory_growth_100k_to_1m": 1.25}

sys.path.insert(0, TAXI_SCALE)
import settings  # noqa: E402


def per_component(times: dict[str, Any], monitor: ProcessTreeMonitor) -> dict[str, Any]:
    components = {}
    for cid, c in sorted(times.items(), key=lambda kv: kv[1]["start_ms"]):
        if c.get("end_ms") is None:
            continue
        start, end = c["start_ms"] / 1000, c["end_ms"] / 1000
        components[cid] = {"seconds": round(end - start, 2), "state": c["state"], **monitor.window(start, end)}
    return components


def run_tfx(work: str, data_dir: str, args: argparse.Namespace, log: str) -> dict[str, Any]:
    times_json = os.path.join(work, "times.json")
    cmd = [vs_tfx.tfx_python(), TFX_SCRIPT, "--data-root", data_dir, "--work-dir", work,
           "--train-steps", str(args.train_steps), "--eval-steps", str(args.eval_steps), "--times-json", times_json]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    result, monitor = run_measured(cmd, env, work, log, interval=SAMPLE_SECONDS)
    if result["returncode"] == 0:
        with open(times_json) as f:
            times = json.load(f)
        result["components"] = per_component(times["components"], monitor)
        result["import_seconds"] = round(times["import_seconds"], 2)
    return result


def penstock_pipeline_file(work: str, data_dir: str, args: argparse.Namespace) -> str:
    """A pipeline file calling bench/taxi_scale/pipeline.py's ``create_pipeline`` with this run's
    data, the ported TFX module file and the benchmark's steps."""
    sys.path.insert(0, TAXI_SCALE)
    from pipeline import port_tfx_module

    site = os.path.dirname(os.path.dirname(vs_tfx.tfx_python()))
    tfx_module = next(
        os.path.join(root, settings.TFX_MODULE)
        for root, dirs, _ in os.walk(os.path.join(site, "lib"))
        if root.endswith("site-packages")
    )
    module = port_tfx_module(tfx_module, os.path.join(work, "taxi_utils_native_keras.py"))
    path = os.path.join(work, "taxi_scale_run.py")
    kwargs = {"data_root": data_dir, "module_file": module, "train_steps": args.train_steps,
              "eval_steps": args.eval_steps, "skew_check": args.skew_check}
    with open(path, "w") as f:
        f.write(
            '"""Generated by bench/vs_tfx_scale.py."""\n'
            "import importlib.util\n"
            f"_spec = importlib.util.spec_from_file_location('taxi_scale_pipeline', {os.path.join(TAXI_SCALE, 'pipeline.py')!r})\n"
            "_module = importlib.util.module_from_spec(_spec)\n"
            "_spec.loader.exec_module(_module)\n"
            f"pipeline = _module.create_pipeline(**{kwargs!r})\n"
        )
    return path


def run_penstock(work: str, data_dir: str, args: argparse.Namespace, log: str) -> dict[str, Any]:
    pipeline_file = penstock_pipeline_file(work, data_dir, args)
    env = vs_tfx.penstock_env(work, args, args.penstock_worker)
    result, monitor = run_measured([sys.executable, "-m", "penstock", "run", pipeline_file], env, work, log,
                                   interval=SAMPLE_SECONDS)
    if result["returncode"] == 0:
        times = vs_tfx.penstock_component_times(work)
        result["components"] = per_component(times["components"], monitor)
    return result


# -- summary ---------------------------------------------------------------------------------
def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if r["returncode"] == 0]

    def med(values: list[float]) -> float | None:
        return round(statistics.median(values), 2) if values else None

    components: dict[str, dict[str, Any]] = {}
    for cid in dict.fromkeys(c for r in ok for c in r.get("components", {})):
        entries = [r["components"][cid] for r in ok if cid in r.get("components", {})]
        components[cid] = {field: med([e[field] for e in entries]) for field in ("seconds", "cpu_seconds", "peak_rss_mb")}
        components[cid]["states"] = sorted({e["state"] for e in entries})
    return {
        "runs": len(runs),
        "failed": len(runs) - len(ok),
        "wall_seconds": med([r["wall_seconds"] for r in ok]),
        "cpu_seconds": med([r["cpu_seconds"] for r in ok]),
        "peak_rss_mb": med([r["peak_rss_mb"] for r in ok]),
        "components": components,
    }


def compare(p: dict[str, Any], t: dict[str, Any]) -> dict[str, Any]:
    components = {}
    for cid in dict.fromkeys([*t["components"], *p["components"]]):
        pc, tc = p["components"].get(cid, {}), t["components"].get(cid, {})
        # Sub-0.2 s steps (resolvers, SchemaGen on two statistics files) are bookkeeping noise.
        meaningful = bool(pc and tc) and min(pc["seconds"] or 0, tc["seconds"] or 0) >= 0.2
        components[cid] = {
            "penstock": pc or None, "tfx": tc or None,
            "wall_ratio": vs_tfx.ratio(pc.get("seconds"), tc.get("seconds")) if meaningful else None,
            "cpu_ratio": vs_tfx.ratio(pc.get("cpu_seconds"), tc.get("cpu_seconds")) if meaningful else None,
        }
    walls = [c["wall_ratio"] for c in components.values() if c["wall_ratio"] is not None]
    return {
        "end_to_end_wall_ratio": vs_tfx.ratio(p["wall_seconds"], t["wall_seconds"]),
        "cpu_ratio": vs_tfx.ratio(p["cpu_seconds"], t["cpu_seconds"]),
        "peak_memory_ratio": vs_tfx.ratio(p["peak_rss_mb"], t["peak_rss_mb"]),
        "slowest_component_ratio": max(walls) if walls else None,
        "components": components,
    }


def prepare_data(rows: int) -> tuple[str, float]:
    """A folder holding only the generated CSV (CsvExampleGen reads every file in its folder),
    its header written as taxi.csv's: TFX splits the header line on commas and would keep the
    quotes pyarrow's writer puts around names."""
    csv = data_scale.generate(rows)
    folder = os.path.join(str(data_scale.DATA_DIR), f"taxi_scale_{rows}")
    target = os.path.join(folder, "data.csv")
    if not os.path.exists(target):
        os.makedirs(folder, exist_ok=True)
        with open(data_scale.TAXI_CSV, "rb") as f:
            header = f.readline()
        with open(csv, "rb") as source, open(target + ".tmp", "wb") as out:
            source.readline()
            out.write(header)
            shutil.copyfileobj(source, out, 2**22)
        os.replace(target + ".tmp", target)
    return folder, os.path.getsize(target) / 2**20


def bench_size(rows: int, systems: list[str], args: argparse.Namespace, root: str) -> dict[str, Any]:
    data_dir, size_mb = prepare_data(rows)
    print(f"\n== {rows:,} rows ({size_mb:.0f} MB)", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    for i in range(args.runs):
        for system in systems if i % 2 == 0 else list(reversed(systems)):
            work = os.path.join(root, f"{system}-{rows}-{i}")
            os.makedirs(work)
            log = os.path.join(root, f"{system}-{rows}-{i}.log")
            run = (run_tfx if system == "tfx" else run_penstock)(work, data_dir, args, log)
            run["round"] = i
            runs[system].append(run)
            print(f"round {i} {system:8} {run['wall_seconds']:8.1f} s  {run['cpu_seconds']:8.1f} CPU s  "
                  f"{run['peak_rss_mb']:7.0f} MB  load {run['loadavg_before'][0]:.1f}"
                  + ("" if run["returncode"] == 0 else f"  FAILED (see {log})"), flush=True)
            for cid, c in run.get("components", {}).items():
                print(f"    {cid:32} {c['seconds']:8.1f} s {c['cpu_seconds']:8.1f} CPU s {c['peak_rss_mb']:7.0f} MB",
                      flush=True)
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    entry: dict[str, Any] = {"rows": rows, "file_mb": round(size_mb, 1), "runs": runs,
                             "summary": {s: summarize(runs[s]) for s in systems}}
    if len(systems) == 2 and all(entry["summary"][s]["wall_seconds"] for s in systems):
        entry["comparison"] = compare(entry["summary"]["penstock"], entry["summary"]["tfx"])
    entry["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return entry


def print_comparison(entry: dict[str, Any]) -> None:
    cmp = entry.get("comparison")
    if not cmp:
        return
    print(f"\n{entry['rows']:,} rows: end to end {cmp['end_to_end_wall_ratio']}x TFX's wall, "
          f"{cmp['cpu_ratio']}x its CPU, {cmp['peak_memory_ratio']}x its peak memory")
    print(f"{'component':32} {'TFX s':>8} {'penstock s':>10} {'ratio':>6} {'CPU ratio':>9}")
    for cid, c in cmp["components"].items():
        print(f"{cid:32} {vs_tfx.fmt((c['tfx'] or {}).get('seconds')):>8} "
              f"{vs_tfx.fmt((c['penstock'] or {}).get('seconds')):>10} {vs_tfx.fmt(c['wall_ratio']):>6} "
              f"{vs_tfx.fmt(c['cpu_ratio']):>9}")


def targets_met(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, judged on the largest size compared with TFX (1M rows when measured)."""
    compared = [s for s in sizes if s.get("comparison")]
    if not compared:
        return {}
    largest = max(compared, key=lambda s: s["rows"])
    cmp = largest["comparison"]
    peaks = {s["rows"]: s["summary"]["penstock"]["peak_rss_mb"] for s in sizes if "penstock" in s["summary"]}
    growth = None
    if 100_000 in peaks and 1_000_000 in peaks and peaks[100_000]:
        growth = round(peaks[1_000_000] / peaks[100_000], 2)
    ratios = [c["wall_ratio"] for c in cmp["components"].values() if c["wall_ratio"] is not None]
    return {
        "judged_at_rows": largest["rows"],
        "end_to_end_wall": cmp["end_to_end_wall_ratio"] is not None and cmp["end_to_end_wall_ratio"] <= TARGETS["end_to_end_wall"],
        "every_component": bool(ratios) and max(ratios) <= TARGETS["component_wall"],
        "none_slower_than_tfx": bool(ratios) and max(ratios) <= 1.0,
        "peak_memory": cmp["peak_memory_ratio"] is not None and cmp["peak_memory_ratio"] <= TARGETS["peak_memory"],
        "memory_growth_100k_to_1m": growth,
        "memory_flat": growth is not None and growth <= TARGETS["memory_growth_100k_to_1m"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=1, help="alternating rounds per size")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--skip-tfx", action="store_true", help="run only penstock")
    group.add_argument("--only-tfx", action="store_true", help="run only TFX")
    parser.add_argument("--train-steps", type=int, default=settings.TRAIN_STEPS)
    parser.add_argument("--eval-steps", type=int, default=settings.EVAL_STEPS)
    parser.add_argument("--skew-check", action="store_true",
                        help="let penstock's Trainer run its training/serving skew check (TFX has none)")
    parser.add_argument("--penstock-worker", choices=["inline", "process"], default="inline",
                        help="where penstock's heavy components run (PENSTOCK_WORKER; default: the run's own "
                             "process, as `penstock run` does when no warm daemon runs)")
    parser.add_argument("--penstock-env", action="append", metavar="KEY=VALUE",
                        help="extra environment for the penstock run (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep work directories")
    parser.add_argument("--work-dir", help="where the runs' work directories go (default: a new temporary folder)")
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args()

    systems = ["tfx", "penstock"]
    if args.skip_tfx:
        systems = ["penstock"]
    elif args.only_tfx:
        systems = ["tfx"]
    vs_tfx.setup_tfx()  # penstock's side reads TFX's module file from that venv too
    if args.work_dir:
        os.makedirs(args.work_dir, exist_ok=True)
    root = tempfile.mkdtemp(prefix="penstock-vs-tfx-scale-", dir=args.work_dir)
    print(f"work dir {root}", flush=True)
    load_start = os.getloadavg()
    measured = {}
    for rows in args.rows:
        entry = bench_size(rows, systems, args, root)
        print_comparison(entry)
        measured[rows] = entry

    # Keep the figures of sizes not re-measured in this run (a 100k run does not erase the 1M one).
    previous = []
    if os.path.exists(args.output):
        with open(args.output) as f:
            previous = json.load(f).get("sizes", [])
    sizes = {e["rows"]: e for e in previous}
    sizes.update(measured)
    ordered = [sizes[r] for r in sorted(sizes)]
    report = {
        "benchmark": "vs_tfx_scale",
        "config": {
            "pipeline": "TFX's taxi_pipeline_native_keras (bench/taxi_scale/, bench/tfx/taxi_tfx.py)",
            "train_steps": args.train_steps, "eval_steps": args.eval_steps,
            "beam_pipeline_args": settings.BEAM_ARGS, "eval_config": settings.EVAL_CONFIG,
            "penstock_skew_check": args.skew_check, "penstock_env": args.penstock_env or [],
            "penstock_worker": args.penstock_worker,
            "data": f"bench/data_scale.py generate(rows), seed {data_scale.SEED}",
            "memory": "peak of RSS summed over the process tree, sampled every 0.1 s",
        },
        "targets": TARGETS,
        "machine": {
            "python": platform.python_version(), "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "loadavg_start": [round(x, 2) for x in load_start],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sizes": ordered,
    }
    report["meets_targets"] = targets_met(ordered)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwrote {args.output}")
    if report["meets_targets"]:
        print("targets: " + ", ".join(f"{k} {v}" for k, v in report["meets_targets"].items()))
    failed = any(r["returncode"] for e in measured.values() for rs in e["runs"].values() for r in rs)
    if args.keep or failed:
        print(f"kept {root}" + (" (a run failed: logs are there)" if failed else ""))
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
