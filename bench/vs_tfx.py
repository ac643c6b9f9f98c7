"""penstock vs TFX 1.16 on the penguin pipeline: wall time, peak memory and where the time goes.

Both pipelines run the same data (examples/penguin/data/penguins.csv), the same Keras model
shape and training steps (100 train / 5 eval by default) and the same Beam mode (DirectRunner
in-memory, one worker), each in its own subprocess, alternately, ``--runs`` times: a fresh run
(empty pipeline root and metadata) followed by a rerun on the same store (the cached rerun).
TFX runs bench/tfx/penguin_tfx.py inside its own Python 3.10 virtualenv (bench/tfx/setup.sh
builds it); penstock runs ``penstock run examples/penguin/pipeline.py`` with its own PENSTOCK_HOME
(through a generated two-line wrapper calling the file's ``create_pipeline(train_steps=...,
eval_steps=..., beam_pipeline_args=...)`` with whichever of those it accepts; what it does not
accept is printed as a warning and recorded under ``config.penstock_settings``).

Measured per run: wall time of the subprocess, peak resident memory summed over the whole
process tree (sampled every ~50 ms), and per-component times read back from each system's own
ML Metadata store. Ratios are penstock / TFX medians of the same invocation. penstock's fresh
run is cold (nothing warm: what ``penstock run`` does when no warm daemon runs,
PENSTOCK_WORKER=inline); ``--warm`` adds a fresh run per round forked from a warm daemon
(``penstock warm``, started once before the rounds), ``--process`` a fresh run whose heavy
components run in a worker process the run spawns (PENSTOCK_WORKER=process). Targets
(issue 22): fresh <= 0.25x TFX, warm <= 0.1x, cached rerun <= 0.01x and under 0.6 s, peak
memory <= TFX.

    .venv/bin/python bench/vs_tfx.py [--runs 3] [--warm] [--process] [--skip-tfx | --only-tfx] [--train-steps 100]

The machine is shared (2 cores): the load average before each run is recorded next to it.

``--scenario tuner`` and ``--scenario bulk_inferrer`` run bench/tfx/scenarios.py, one pipeline
file for both systems (only the ``tfx`` import differs), fresh runs only:

- tuner: the penguin data through Transform into a Tuner with the same search space, 6 trials of
  20 train / 5 eval steps (bench/tfx/tuner_module.py). Compared: the Tuner component's seconds
  (target: penstock <= 0.5x TFX; penstock runs trials in parallel processes), wall and memory.
- bulk_inferrer: ``--rows`` (default 1,000,000) taxi-shaped rows generated deterministically by
  bench/data_scale.py (under bench/data/, never committed) and a taxi SavedModel with seeded
  weights (bench/tfx/taxi_model.py); BulkInferrer writes PredictionLogs. Compared: rows per
  second of the BulkInferrer component (target: penstock >= 2x TFX), wall and memory.

    .venv/bin/python bench/vs_tfx.py --scenario tuner [--runs 3] [--skip-tfx]
    .venv/bin/python bench/vs_tfx.py --scenario bulk_inferrer [--rows 1000000] [--skip-tfx]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import psutil
from process_tree import run_measured

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results", "vs_tfx.json")
DATA = os.path.join(REPO, "examples", "penguin", "data", "penguins.csv")
PENSTOCK_PIPELINE = os.path.join(REPO, "examples", "penguin", "pipeline.py")
TFX_VENV = os.path.join(BENCH, ".venv-tfx")
TFX_SCRIPT = os.path.join(BENCH, "tfx", "penguin_tfx.py")
TFX_SETUP = os.path.join(BENCH, "tfx", "setup.sh")
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
# From the project's issue: a fresh run with nothing warm <= 0.25x TFX's, with a warm worker
# <= 0.1x, a cached rerun <= 0.01x and under 0.6 s, peak memory <= TFX's.
TARGETS = {"fresh_wall": 0.25, "warm_wall": 0.1, "cached_wall": 0.01, "cached_seconds": 0.6, "peak_memory": 1.0}
# penstock's runs: cold (everything in the run's process, as `penstock run` without a warm
# daemon), the cached rerun, and with --warm a fresh run forked from a warm daemon, with
# --process a cold run whose heavy components run in a worker process the run spawns.
PENSTOCK_WORKER = {"fresh": "inline", "cached": "inline", "fresh_warm": "daemon", "fresh_process": "process"}
SAMPLE_SECONDS = 0.05


# -- TFX -------------------------------------------------------------------------------------
def tfx_python() -> str:
    return os.path.join(TFX_VENV, "bin", "python")


def setup_tfx() -> None:
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    subprocess.run(["bash", TFX_SETUP], check=True, env=env)


def run_tfx(work: str, data_dir: str, args: argparse.Namespace, log: str) -> dict[str, Any]:
    times_json = os.path.join(work, f"times-{time.monotonic_ns()}.json")
    cmd = [tfx_python(), TFX_SCRIPT, "--data-root", data_dir, "--work-dir", work,
           "--train-steps", str(args.train_steps), "--eval-steps", str(args.eval_steps),
           "--times-json", times_json] + [f"--beam-arg={a}" for a in BEAM_ARGS]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    env.pop("VIRTUAL_ENV", None)
    result, _ = run_measured(cmd, env, work, log, interval=SAMPLE_SECONDS)
    if result["returncode"] == 0:
        with open(times_json) as f:
            times = json.load(f)
        result["components"] = {k: {"seconds": v["seconds"], "state": v["state"]}
                                for k, v in sorted(times["components"].items(), key=lambda kv: kv[1]["start_ms"])}
        result["import_seconds"] = round(times["import_seconds"], 3)
    return result


# -- penstock --------------------------------------------------------------------------------
def penstock_env(home: str, args: argparse.Namespace, worker: str = "inline") -> dict[str, str]:
    """This checkout's penstock, its own home, and where heavy components run (PENSTOCK_WORKER)."""
    pythonpath = os.pathsep.join([REPO, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = dict(os.environ, PENSTOCK_HOME=home, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=pythonpath, PENSTOCK_WORKER=worker)
    for item in args.penstock_env or []:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def penstock_component_times(home: str) -> dict[str, Any]:
    """Per-component seconds and states of the latest run, from penstock's own MLMD store."""
    from penstock.metadata.connection import sqlite
    from penstock.metadata.store import MetadataStore

    store = MetadataStore(sqlite(os.path.join(home, "metadata.sqlite")))
    run = store.latest_run()
    components = {}
    for execution in sorted(store.run_executions(run.run_id), key=lambda e: (e.start_ms, e.id)):
        seconds = None if execution.end_ms is None else (execution.end_ms - execution.start_ms) / 1000
        components[execution.component_id] = {"seconds": seconds, "state": execution.state,
                                              "start_ms": execution.start_ms, "end_ms": execution.end_ms}
    return {"run_id": run.run_id, "run_seconds": run.duration_s, "components": components}


def factory_parameters(pipeline_file: str) -> list[str] | None:
    """Parameter names of the pipeline file's ``create_pipeline`` (None: no such function).
    Read from the source, so nothing is imported into this process."""
    with open(pipeline_file) as f:
        tree = ast.parse(f.read(), pipeline_file)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "create_pipeline":
            return [a.arg for a in node.args.args + node.args.kwonlyargs]
    return None


def penstock_pipeline_file(args: argparse.Namespace, root: str) -> tuple[str, dict[str, Any]]:
    """The file handed to ``penstock run``: the example itself, or, when its ``create_pipeline``
    takes the benchmark's knobs, a two-line wrapper calling it with the same steps and Beam
    arguments as the TFX side. Returns the file and what was (not) applied."""
    wanted: dict[str, Any] = {"train_steps": args.train_steps, "eval_steps": args.eval_steps,
                              "beam_pipeline_args": BEAM_ARGS}
    params = factory_parameters(args.penstock_pipeline)
    if params is None:
        return args.penstock_pipeline, {"applied": {}, "not_supported": sorted(wanted)}
    applied = {k: v for k, v in wanted.items() if k in params}
    wrapper = os.path.join(root, "penguin_bench_pipeline.py")
    with open(wrapper, "w") as f:
        f.write(
            '"""Generated by bench/vs_tfx.py: the penguin example with the benchmark\'s settings."""\n'
            "import importlib.util\n"
            f"_spec = importlib.util.spec_from_file_location('penguin_example_pipeline', {args.penstock_pipeline!r})\n"
            "_module = importlib.util.module_from_spec(_spec)\n"
            "_spec.loader.exec_module(_module)\n"
            f"pipeline = _module.create_pipeline(**{applied!r})\n"
        )
    return wrapper, {"applied": applied, "not_supported": sorted(set(wanted) - set(applied))}


def run_penstock(home: str, args: argparse.Namespace, log: str, mode: str = "fresh") -> dict[str, Any]:
    cmd = [sys.executable, "-m", "penstock", "run", args.penstock_file]
    worker = PENSTOCK_WORKER[mode]
    adopted = [args.warm_daemon_pid] if worker == "daemon" else None
    result, _ = run_measured(cmd, penstock_env(home, args, worker), home, log, interval=SAMPLE_SECONDS, adopted=adopted)
    result["worker"] = worker
    if result["returncode"] == 0:
        times = penstock_component_times(home)
        result["components"] = times["components"]
        result["run_seconds"] = times["run_seconds"]
    return result


# -- summary ---------------------------------------------------------------------------------
def canonical(component_id: str) -> str:
    """Match component ids across systems (CsvExampleGen ~ ExampleGen, any resolver ~ resolver)."""
    key = re.sub(r"[^a-z0-9]", "", component_id.lower())
    if "resolver" in key or "latestblessed" in key:
        return "resolver"
    return key.removeprefix("csv")


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if r["returncode"] == 0]
    per_component: dict[str, list[float]] = {}
    states: dict[str, set[str]] = {}
    for r in ok:
        for cid, c in r.get("components", {}).items():
            if c["seconds"] is not None:
                per_component.setdefault(cid, []).append(c["seconds"])
            states.setdefault(cid, set()).add(c["state"])
    in_components = [sum(c["seconds"] or 0 for c in r.get("components", {}).values()) for r in ok]
    return {
        "runs": len(runs),
        "failed": len(runs) - len(ok),
        "wall_seconds_median": median([r["wall_seconds"] for r in ok]),
        "wall_seconds_min": round(min(r["wall_seconds"] for r in ok), 3) if ok else None,
        "peak_rss_mb_median": median([r["peak_rss_mb"] for r in ok]),
        "peak_rss_mb_max": max((r["peak_rss_mb"] for r in ok), default=None),
        "seconds_in_components_median": median(in_components),
        "seconds_outside_components_median": median([r["wall_seconds"] - s for r, s in zip(ok, in_components)]),
        "components_seconds_median": {cid: median(v) for cid, v in per_component.items()},
        "component_states": {cid: sorted(s) for cid, s in states.items()},
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def compare(results: dict[str, Any]) -> dict[str, Any]:
    p, t = results["penstock"]["summary"], results["tfx"]["summary"]
    ratios = {
        "fresh_wall": ratio(p["fresh"]["wall_seconds_median"], t["fresh"]["wall_seconds_median"]),
        "cached_wall": ratio(p["cached"]["wall_seconds_median"], t["cached"]["wall_seconds_median"]),
        "fresh_peak_memory": ratio(p["fresh"]["peak_rss_mb_median"], t["fresh"]["peak_rss_mb_median"]),
        "cached_peak_memory": ratio(p["cached"]["peak_rss_mb_median"], t["cached"]["peak_rss_mb_median"]),
    }
    # Extra penstock modes are compared with TFX's fresh run: the same work from nothing cached.
    for mode, key in (("fresh_warm", "warm"), ("fresh_process", "process")):
        if mode in p:
            ratios[f"{key}_wall"] = ratio(p[mode]["wall_seconds_median"], t["fresh"]["wall_seconds_median"])
            ratios[f"{key}_peak_memory"] = ratio(p[mode]["peak_rss_mb_median"], t["fresh"]["peak_rss_mb_median"])
    components: dict[str, dict[str, Any]] = {}
    for mode in ("fresh", "cached"):
        pc, tc = p[mode]["components_seconds_median"], t[mode]["components_seconds_median"]
        # Keyed by penstock's id, or TFX's where penstock has no such component.
        pairs: dict[str, tuple[str | None, str | None]] = {}
        for tid in t["fresh"]["components_seconds_median"] | tc:
            pairs[canonical(tid)] = (None, tid)
        for pid in p["fresh"]["components_seconds_median"] | pc:
            pairs[canonical(pid)] = (pid, pairs.get(canonical(pid), (None, None))[1])
        for pid, tid in pairs.values():
            entry = components.setdefault(pid or f"(TFX only) {tid}", {"tfx_id": tid})
            ps = pc.get(pid) if pid else None
            ts = tc.get(tid) if tid else None
            # Sub-50 ms steps are bookkeeping noise (and clock skew can make them negative).
            meaningful = ps is not None and ts is not None and min(ps, ts) >= 0.05
            entry[mode] = {"penstock_seconds": ps, "tfx_seconds": ts, "ratio": ratio(ps, ts) if meaningful else None}
    def within(value: float | None, target: float) -> bool:
        return value is not None and value <= target

    meets = {
        "fresh_wall": within(ratios["fresh_wall"], TARGETS["fresh_wall"]),
        "cached_wall": within(ratios["cached_wall"], TARGETS["cached_wall"])
        and within(p["cached"]["wall_seconds_median"], TARGETS["cached_seconds"]),
        "peak_memory": all(within(v, TARGETS["peak_memory"]) for k, v in ratios.items() if k.endswith("_peak_memory")),
    }
    if "warm_wall" in ratios:
        meets["warm_wall"] = within(ratios["warm_wall"], TARGETS["warm_wall"])
    return {"ratios": ratios, "components": components, "meets_targets": meets}


def print_report(results: dict[str, Any]) -> None:
    for system in ("tfx", "penstock"):
        if system not in results:
            continue
        for mode, s in results[system]["summary"].items():
            if not s["runs"]:
                continue
            walls = ", ".join(f"{r['wall_seconds']:.1f}" for r in results[system][mode])
            print(f"{system:8} {mode:12} wall median {s['wall_seconds_median']} s [{walls}]  "
                  f"peak RSS median {s['peak_rss_mb_median']} MB  "
                  f"outside components {s['seconds_outside_components_median']} s  failed {s['failed']}")
    if "comparison" not in results:
        return
    cmp = results["comparison"]
    print("\nratios penstock/TFX: " + ", ".join(f"{k} {v}" for k, v in cmp["ratios"].items()))
    print(f"targets: {TARGETS} -> " +
          ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in cmp["meets_targets"].items()))
    print(f"\n{'component':34} {'TFX fresh':>10} {'penstock':>10} {'ratio':>7}   {'TFX cached':>10} {'penstock':>10}")
    for cid, c in cmp["components"].items():
        f, k = c.get("fresh", {}), c.get("cached", {})
        print(f"{cid:34} {fmt(f.get('tfx_seconds')):>10} {fmt(f.get('penstock_seconds')):>10} "
              f"{fmt(f.get('ratio')):>7}   {fmt(k.get('tfx_seconds')):>10} {fmt(k.get('penstock_seconds')):>10}")


# -- Tuner and BulkInferrer scenarios --------------------------------------------------------------
SCENARIOS = os.path.join(BENCH, "tfx", "scenarios.py")
SCENARIO_COMPONENT = {"tuner": "Tuner", "bulk_inferrer": "BulkInferrer"}
SCENARIO_TARGETS = {"tuner": 0.5, "bulk_inferrer": 2.0}


def taxi_model(root: str) -> str:
    """The benchmark's taxi SavedModel (bench/tfx/taxi_model.py: seeded weights, raw serialized
    examples in), built once per benchmark."""
    path = os.path.join(root, "taxi-model")  # a Model artifact: TFX's BulkInferrer reads <uri>/Format-Serving
    subprocess.run([sys.executable, os.path.join(BENCH, "tfx", "taxi_model.py"), os.path.join(path, "Format-Serving")],
                   check=True,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def scenario_data(args: argparse.Namespace, root: str) -> tuple[str, str | None]:
    """(data folder, model folder) for the scenario; generated data is reused across runs."""
    data_dir = os.path.join(root, "data")
    os.makedirs(data_dir)
    if args.scenario == "tuner":
        shutil.copy(DATA, data_dir)
        return data_dir, None
    sys.path.insert(0, BENCH)
    from data_scale import generate

    os.symlink(generate(args.rows), os.path.join(data_dir, "taxi.csv"))
    return data_dir, taxi_model(root)


def run_scenario(system: str, args: argparse.Namespace, work: str, data_dir: str, model_dir: str | None,
                 log: str) -> dict[str, Any]:
    times_json = os.path.join(work, "times.json")
    python = tfx_python() if system == "tfx" else sys.executable
    cmd = [python, SCENARIOS, "--api", system, "--scenario", args.scenario, "--data-root", data_dir,
           "--work-dir", work, "--times-json", times_json] + (["--model-dir", model_dir] if model_dir else [])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    if system == "tfx":
        env.pop("VIRTUAL_ENV", None)
    else:
        env["PYTHONPATH"] = os.pathsep.join([REPO, env.get("PYTHONPATH", "")])
    result, _ = run_measured(cmd, env, work, log, interval=SAMPLE_SECONDS)
    if result["returncode"] == 0:
        with open(times_json) as f:
            times = json.load(f)
        result["components"] = times["components"]
        result["component_seconds"] = times["components"].get(SCENARIO_COMPONENT[args.scenario], {}).get("seconds")
    return result


def scenario_main(args: argparse.Namespace, systems: list[str]) -> None:
    root = tempfile.mkdtemp(prefix=f"penstock-vs-tfx-{args.scenario}-")
    data_dir, model_dir = scenario_data(args, root)
    results: dict[str, Any] = {s: {"runs": []} for s in systems}
    load_start = os.getloadavg()
    for i in range(args.runs):
        for system in systems if i % 2 == 0 else list(reversed(systems)):
            work = os.path.join(root, f"{system}-{i}")
            os.makedirs(work)
            r = run_scenario(system, args, work, data_dir, model_dir, os.path.join(root, f"{system}-{i}.log"))
            results[system]["runs"].append(r)
            print(f"round {i} {system:8} {r['wall_seconds']:7.1f} s  {r['peak_rss_mb']:7.0f} MB  component "
                  f"{fmt(r.get('component_seconds'))} s" + ("" if r["returncode"] == 0 else "  FAILED"), flush=True)
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    for system in systems:
        ok = [r for r in results[system]["runs"] if r["returncode"] == 0]
        seconds = median([r["component_seconds"] for r in ok if r.get("component_seconds")])
        results[system]["summary"] = {
            "component_seconds_median": seconds,
            "wall_seconds_median": median([r["wall_seconds"] for r in ok]),
            "peak_rss_mb_median": median([r["peak_rss_mb"] for r in ok]),
            "rows_per_second": round(args.rows / seconds) if args.scenario == "bulk_inferrer" and seconds else None,
            "failed": len(results[system]["runs"]) - len(ok),
        }
        print(f"{system}: {results[system]['summary']}")
    if len(systems) == 2:
        p, t = results["penstock"]["summary"], results["tfx"]["summary"]
        if args.scenario == "tuner":
            value = ratio(p["component_seconds_median"], t["component_seconds_median"])
            met = value is not None and value <= SCENARIO_TARGETS["tuner"]
        else:
            value = ratio(p["rows_per_second"], t["rows_per_second"])
            met = value is not None and value >= SCENARIO_TARGETS["bulk_inferrer"]
        results["comparison"] = {"ratio": value, "target": SCENARIO_TARGETS[args.scenario], "met": met,
                                 "wall_ratio": ratio(p["wall_seconds_median"], t["wall_seconds_median"]),
                                 "memory_ratio": ratio(p["peak_rss_mb_median"], t["peak_rss_mb_median"])}
        print(f"comparison: {results['comparison']}")
    results["config"] = {"scenario": args.scenario, "runs": args.runs, "rows": args.rows if args.scenario ==
                         "bulk_inferrer" else None, "beam_pipeline_args": BEAM_ARGS,
                         "pipeline": "bench/tfx/scenarios.py (one file, both systems)"}
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "loadavg_start": [round(x, 2) for x in load_start],
                          "loadavg_end": [round(x, 2) for x in os.getloadavg()]}
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    output = args.output if args.output != RESULTS else os.path.join(BENCH, "results", f"vs_tfx_{args.scenario}.json")
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as f:
        json.dump(results, f, indent=2, default=str)
    print(f"wrote {output}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def start_warm_daemon(env: dict[str, str], root: str) -> int:
    """``penstock warm`` in the benchmark's environment (so runs find it); its pid."""
    subprocess.run([sys.executable, "-m", "penstock", "warm", "--idle-timeout", "7200"], env=env, cwd=root, check=True)
    status = subprocess.run([sys.executable, "-c", "from penstock.runtime.workers import daemon; print(daemon.status()['pid'])"],
                            env=env, cwd=root, check=True, capture_output=True, text=True)
    return int(status.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh+cached pairs per system")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--skip-tfx", action="store_true", help="run only penstock")
    group.add_argument("--only-tfx", action="store_true", help="run only TFX")
    parser.add_argument("--train-steps", type=int, default=100)
    parser.add_argument("--eval-steps", type=int, default=5)
    parser.add_argument("--penstock-pipeline", default=PENSTOCK_PIPELINE)
    parser.add_argument("--penstock-env", action="append", metavar="KEY=VALUE",
                        help="extra environment for the penstock run (repeatable)")
    parser.add_argument("--warm", action="store_true",
                        help="also a fresh penstock run per round forked from a warm daemon (penstock warm)")
    parser.add_argument("--process", action="store_true",
                        help="also a fresh penstock run per round with its heavy components in a worker process it spawns")
    parser.add_argument("--keep", action="store_true", help="keep work directories and logs")
    parser.add_argument("--output", default=RESULTS)
    parser.add_argument("--scenario", choices=["pipeline", "tuner", "bulk_inferrer"], default="pipeline")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for --scenario bulk_inferrer")
    args = parser.parse_args()
    args.penstock_pipeline = os.path.abspath(args.penstock_pipeline)
    penstock_modes = ["fresh", "cached"] + ["fresh_warm"] * args.warm + ["fresh_process"] * args.process

    systems = ["tfx", "penstock"]
    if args.skip_tfx:
        systems = ["penstock"]
    elif args.only_tfx:
        systems = ["tfx"]
    if args.scenario != "pipeline":
        if "tfx" in systems:
            setup_tfx()
        scenario_main(args, systems)
        return
    if "penstock" in systems and not os.path.exists(args.penstock_pipeline):
        sys.exit(f"error: {args.penstock_pipeline} does not exist yet (use --only-tfx)")
    if "tfx" in systems:
        setup_tfx()

    root = tempfile.mkdtemp(prefix="penstock-vs-tfx-")
    data_dir = os.path.join(root, "data")  # CsvExampleGen reads every file in its input dir
    os.makedirs(data_dir)
    shutil.copy(DATA, data_dir)
    with open(DATA, "rb") as f:
        data_sha = hashlib.sha256(f.read()).hexdigest()
    print(f"work dir {root}", flush=True)
    knobs: dict[str, Any] = {}
    if "penstock" in systems:
        args.penstock_file, knobs = penstock_pipeline_file(args, root)
        if knobs["not_supported"]:
            print(f"WARNING: {os.path.relpath(args.penstock_pipeline, REPO)} create_pipeline() does not take "
                  f"{knobs['not_supported']}: penstock runs with the example's own values, not TFX's", flush=True)

    modes = {"tfx": ["fresh", "cached"], "penstock": penstock_modes}
    results: dict[str, Any] = {s: {m: [] for m in modes[s]} for s in systems}
    load_start = os.getloadavg()
    daemon_env = penstock_env(os.path.join(root, "warm-home"), args, "daemon")
    if "penstock" in systems and args.warm:
        args.warm_daemon_pid = start_warm_daemon(daemon_env, root)
    for i in range(args.runs):
        # Alternate which system goes first so cache warmth and load drift hit both alike.
        order = systems if i % 2 == 0 else list(reversed(systems))
        for system in order:
            work = os.path.join(root, f"{system}-{i}")
            os.makedirs(work)
            log = os.path.join(root, f"{system}-{i}.log")
            for mode in modes[system]:
                if system == "tfx":
                    r = run_tfx(work, data_dir, args, log)
                else:  # the extra modes start from nothing too: a home of their own
                    home = work if mode in ("fresh", "cached") else os.path.join(root, f"{system}-{i}-{mode}")
                    os.makedirs(home, exist_ok=True)
                    r = run_penstock(home, args, log, mode)
                r["round"] = i
                results[system][mode].append(r)
                print(f"round {i} {system:8} {mode:12} {r['wall_seconds']:7.1f} s  {r['peak_rss_mb']:7.0f} MB  "
                      f"load {r['loadavg_before'][0]:.1f}" + ("" if r["returncode"] == 0 else f"  FAILED (see {log})"),
                      flush=True)
            if not args.keep:
                # Logs stay (tiny); the artifacts go.
                shutil.rmtree(work, ignore_errors=True)

    if "penstock" in systems and args.warm:
        subprocess.run([sys.executable, "-m", "penstock", "warm", "--stop"], env=daemon_env, check=False)
    for system in systems:
        results[system]["summary"] = {m: summarize(results[system][m]) for m in modes[system]}
    if len(systems) == 2:
        results["comparison"] = compare(results)
    results["config"] = {
        "runs": args.runs,
        "train_steps": args.train_steps,
        "eval_steps": args.eval_steps,
        "beam_pipeline_args": BEAM_ARGS,
        "data": os.path.relpath(DATA, REPO),
        "data_sha256": data_sha,
        "penstock_pipeline": os.path.relpath(args.penstock_pipeline, REPO),
        "penstock_settings": knobs,
        "penstock_workers": {m: PENSTOCK_WORKER[m] for m in penstock_modes},
        "tfx": "tfx 1.16.0 on Python 3.10 (bench/tfx/setup.sh), bench/tfx/penguin_tfx.py",
        "memory": "peak of RSS summed over the process tree, sampled every 50 ms",
    }
    results["targets"] = TARGETS
    results["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "note": "shared machine: other jobs may run concurrently; see loadavg_before per run",
    }
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print()
    print_report(results)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {args.output}")
    failed = any(r["returncode"] for s in systems for m in modes[s] for r in results[s][m])
    if args.keep or failed:
        print(f"kept {root}" + (" (a run failed: logs are there)" if failed else ""))
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
