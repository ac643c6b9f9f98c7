"""The penguin and taxi pipelines with everything local vs on an object store on loopback.

Each pipeline runs end to end through ``penstock run`` (a fresh process and store each time),
with its root, input data and serving directory (1) on the local disk, (2) on S3 (moto; every
component native, TensorFlow through tensorflow-io) and (3) on GCS (gcp-storage-emulator;
TensorFlow components localised, since TensorFlow cannot be pointed at an emulator). Modes
alternate within each repeat, so ratios compare runs measured side by side. Per component: wall
seconds (from ML Metadata) and bytes moved: what it wrote under the root, plus what a localised
component downloaded. Target: an object-store run within 1.5x of the local run.

Both servers are single-threaded Python programs, far slower per request than a real store;
the figures bound what a real GCS or S3 bucket would cost from above.

    .venv/bin/python bench/remote_root.py [--repeats 2] [--only penguin|taxi] [--stores s3 gs]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results", "remote_root.json")
sys.path.insert(0, PROJECT)

PIPELINE_FILE = textwrap.dedent("""
    import sys
    sys.path.insert(0, {example_dir!r})
    from pipeline import create_pipeline

    pipeline = create_pipeline(name={name!r}, pipeline_root={root!r}, serving_dir={serving!r}{extra})
    pipeline.node("CsvExampleGen").parameters["input_base"] = {data!r}
""")
PIPELINES = {
    "penguin": {"dir": "penguin", "extra": ""},
    # the benchmark compares storage, not training: fewer steps than the example's 1000
    "taxi": {"dir": "taxi", "extra": ", train_steps=200"},
}


def run_once(pipeline: str, mode: str, stores: dict[str, Any], workdir: str) -> dict[str, Any]:
    from penstock.metadata.store import MetadataStore
    from penstock.storage import filesystem

    example_dir = os.path.join(PROJECT, "examples", PIPELINES[pipeline]["dir"])
    env = {**os.environ, "PYTHONPATH": PROJECT, "PENSTOCK_HOME": os.path.join(workdir, "home")}
    if mode == "local":
        base = os.path.join(workdir, "store")
        data = os.path.join(example_dir, "data")
    else:
        store = stores[mode]
        env.update(store.env)
        base = store.fresh_prefix(f"bench-{pipeline}")
        data = store.upload(os.path.join(example_dir, "data"), filesystem.join(base, "data"))
    root, serving = filesystem.join(base, "root"), filesystem.join(base, "serving")
    path = os.path.join(workdir, "pipeline.py")
    with open(path, "w") as f:
        f.write(PIPELINE_FILE.format(example_dir=example_dir, name=pipeline, root=root, serving=serving, data=data,
                                     extra=PIPELINES[pipeline]["extra"]))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "penstock", "run", path], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{pipeline} on {mode} failed:\n{done.stderr[-3000:]}")
    store_db = MetadataStore(os.path.join(workdir, "home", "metadata.sqlite"))
    components: dict[str, dict[str, float]] = {}
    with _environment({} if mode == "local" else stores[mode].env):
        for record in store_db.run_executions(store_db.latest_run(pipeline).run_id):
            _, outputs = store_db.execution_artifacts(record.id)
            written = sum(e.size for arts in outputs.values() for a in arts for e in filesystem.list_files(a.uri))
            components[record.component_id] = {
                "seconds": record.duration_s or 0.0,
                "written_bytes": written,
                "downloaded_bytes": int(record.properties.get("downloaded_bytes", 0)),
                "localised": record.properties.get("storage") == "localised",
            }
    return {"wall_s": wall, "components": components}


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Any:
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", choices=sorted(PIPELINES), action="append")
    parser.add_argument("--stores", nargs="+", choices=["s3", "gs"], default=["s3", "gs"])
    args = parser.parse_args()
    from tests.servers.object_stores import gcs_server, s3_server

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as servers_dir, contextlib.ExitStack() as stack:
        stores: dict[str, Any] = {}
        if "s3" in args.stores:
            stores["s3"] = stack.enter_context(s3_server(servers_dir))
        if "gs" in args.stores:
            stores["gs"] = stack.enter_context(gcs_server(servers_dir))
        modes = ["local", *args.stores]
        for pipeline in args.only or list(PIPELINES):
            runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
            for repeat in range(args.repeats):
                order = modes if repeat % 2 == 0 else list(reversed(modes))
                for mode in order:
                    with tempfile.TemporaryDirectory() as workdir:
                        runs[mode].append(run_once(pipeline, mode, stores, workdir))
                        print(f"{pipeline} {mode} run {repeat + 1}: {runs[mode][-1]['wall_s']:.1f} s", flush=True)
            results[pipeline] = summarize(runs)
    load = os.getloadavg()[0]
    payload = {
        "results": results,
        "target_ratio": 1.5,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_at_end": round(load, 2)},
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    for pipeline, summary in results.items():
        for mode, figures in summary.items():
            ratio = f" = {figures['ratio_to_local']:.2f}x local" if mode != "local" else ""
            print(f"{pipeline:8} {mode:6} wall {figures['wall_s']:6.1f} s{ratio}")
    print(f"wrote {RESULTS}")


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    local_wall = statistics.median(r["wall_s"] for r in runs["local"])
    for mode, measured in runs.items():
        wall = statistics.median(r["wall_s"] for r in measured)
        names = sorted({c for r in measured for c in r["components"]})
        summary[mode] = {
            "wall_s": round(wall, 2),
            "ratio_to_local": round(wall / local_wall, 3),
            "components": {
                name: {
                    "seconds": round(statistics.median(r["components"][name]["seconds"] for r in measured
                                                       if name in r["components"]), 2),
                    "written_bytes": measured[-1]["components"].get(name, {}).get("written_bytes", 0),
                    "downloaded_bytes": measured[-1]["components"].get(name, {}).get("downloaded_bytes", 0),
                    "localised": measured[-1]["components"].get(name, {}).get("localised", False),
                }
                for name in names
            },
        }
    return summary


if __name__ == "__main__":
    main()
