"""Render bench/results/*.json as the README's Markdown benchmark tables.

Why it exists: the figures in README.md should be the ones the bench scripts last wrote, not
numbers copied by hand. Each known result file (overhead, vs_tfx, vs_tfx_scale, data_scale, compile, serving, warm_start)
has a renderer that picks the figures a reader compares (data_breakdown too); an unknown file gets a generic table of
its top-level numbers, so a new benchmark shows up without touching this script.

    .venv/bin/python bench/render_readme_table.py           # print the Markdown
    .venv/bin/python bench/render_readme_table.py --write   # replace the block between
                                                            # <!-- bench:start --> and <!-- bench:end --> in README.md
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections.abc import Callable, Iterable
from typing import Any

BENCH = pathlib.Path(__file__).resolve().parent
RESULTS = BENCH / "results"
README = BENCH.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ORDER = ["vs_tfx", "vs_tfx_scale", "evaluator_fast_path", "overhead", "data_scale", "data_breakdown", "remote_root", "serving", "compile",
         "warm_start"]

# Result files the README describes in its own words after the generated block (the Tuner and
# BulkInferrer scenarios): not given a generic table as well.
BY_HAND = {"vs_tfx_tuner", "vs_tfx_bulk_inferrer"}

Row = list[str]


def table(header: Row, rows: Iterable[Row]) -> str:
    rows = [r for r in rows if r]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def get(data: Any, path: str) -> Any:
    """``get(d, "a.b.c")`` or None when any step is missing."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def num(value: Any, unit: str = "", digits: int | None = None) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip() if unit not in ("x", "×") else f"{text}×"


def footer(data: dict[str, Any], script: str) -> str:
    machine = data.get("machine") or {}
    bits = []
    if machine.get("cpus"):
        bits.append(f"{machine['cpus']} cores")
    if machine.get("python"):
        bits.append(f"Python {machine['python']}")
    load = machine.get("loadavg_start")
    if load:
        bits.append(f"load average {load[0]:.1f} at start")
    if data.get("measured_at"):
        bits.append(f"measured {data['measured_at']}")
    where = f" ({', '.join(bits)})" if bits else ""
    return f"Reproduce: `.venv/bin/python bench/{script}`{where}."


# -- renderers -------------------------------------------------------------------------------
def render_vs_tfx(d: dict[str, Any]) -> str:
    p, t = get(d, "penstock.summary") or {}, get(d, "tfx.summary") or {}
    ratios = get(d, "comparison.ratios") or {}
    targets = d.get("targets") or {}
    cfg = d.get("config") or {}

    def row(label: str, mode: str, field: str, unit: str, ratio_key: str, target_key: str, tfx_mode: str = "") -> Row:
        if get(p, mode) is None:
            return []
        target = targets.get(target_key)
        ratio = ratios.get(ratio_key)
        met = "—" if ratio is None or target is None else ("yes" if ratio <= target else "no")
        return [label, num(get(p, f"{mode}.{field}"), unit), num(get(t, f"{tfx_mode or mode}.{field}"), unit),
                num(ratio, "x"), f"≤ {target}×" if target is not None else "—", met]

    body = table(
        ["measure", "penstock", "TFX 1.16", "penstock / TFX", "target", "met"],
        [
            row("fresh run, nothing warm, wall (median)", "fresh", "wall_seconds_median", "s", "fresh_wall", "fresh_wall"),
            row("fresh run, warm daemon (`penstock warm`), wall", "fresh_warm", "wall_seconds_median", "s", "warm_wall",
                "warm_wall", "fresh"),
            row("fresh run, worker process spawned by the run (`PENSTOCK_WORKER=process`), wall", "fresh_process",
                "wall_seconds_median", "s", "process_wall", "", "fresh"),
            row("cached rerun, wall (median)", "cached", "wall_seconds_median", "s", "cached_wall", "cached_wall"),
            row("peak memory, fresh run", "fresh", "peak_rss_mb_median", "MB", "fresh_peak_memory", "peak_memory"),
            row("peak memory, warm daemon run (its worker)", "fresh_warm", "peak_rss_mb_median", "MB",
                "warm_peak_memory", "peak_memory", "fresh"),
            row("peak memory, cached rerun", "cached", "peak_rss_mb_median", "MB", "cached_peak_memory",
                "peak_memory"),
        ],
    )
    components = get(d, "comparison.components") or {}
    comp_rows = []
    for cid, c in components.items():
        f = c.get("fresh") or {}
        comp_rows.append([f"`{cid}`", num(f.get("penstock_seconds"), "s"), num(f.get("tfx_seconds"), "s"),
                          num(f.get("ratio"), "x")])
    parts = [
        f"Penguin pipeline, {cfg.get('train_steps', '?')} train / {cfg.get('eval_steps', '?')} eval steps, "
        f"Beam DirectRunner in-memory, {cfg.get('runs', '?')} alternating runs each; memory is the peak RSS "
        "summed over the process tree.",
        body,
    ]
    reran = []
    for system, label in (("penstock", "penstock"), ("tfx", "TFX")):
        states = get(d, f"{system}.summary.cached.component_states") or {}
        executed = [cid for cid, st in states.items() if any(x not in ("CACHED",) for x in st)
                    and "resolver" not in cid.lower() and "latest_blessed" not in cid.lower()]
        if states:
            reran.append(f"{label}: {', '.join(f'`{c}`' for c in executed) if executed else 'none'}")
    for system, label in (("penstock", "penstock"), ("tfx", "TFX")):
        failed = {m: get(d, f"{system}.summary.{m}.failed") for m in ("fresh", "cached")}
        for mode, count in failed.items():
            if count:
                runs = get(d, f"{system}.summary.{mode}.runs")
                parts.append(f"**{label}: {count} of {runs} {mode} runs failed** (excluded from the medians).")
    if reran:
        parts.append("Components that execute again on the rerun (not cache hits) — " + "; ".join(reran) + ".")
    if comp_rows:
        parts += ["Per component, fresh run (median seconds from each system's own ML Metadata):",
                  table(["component", "penstock", "TFX 1.16", "ratio"], comp_rows)]
    parts.append(footer(d, "vs_tfx.py"))
    return "\n\n".join(parts)


def render_vs_tfx_scale(d: dict[str, Any]) -> str:
    cfg, targets, met = d.get("config") or {}, d.get("targets") or {}, d.get("meets_targets") or {}
    overall = []
    for size in d.get("sizes") or []:
        p, t = get(size, "summary.penstock") or {}, get(size, "summary.tfx") or {}
        cmp = size.get("comparison") or {}
        loads = [r["loadavg_before"][0] for runs in (size.get("runs") or {}).values() for r in runs]
        overall.append([f"{size['rows']:,}", num(p.get("wall_seconds"), "s"), num(t.get("wall_seconds"), "s"),
                        num(cmp.get("end_to_end_wall_ratio"), "x"), num(p.get("cpu_seconds"), "s"),
                        num(t.get("cpu_seconds"), "s"), num(cmp.get("cpu_ratio"), "x"),
                        num(p.get("peak_rss_mb"), "MB"), num(t.get("peak_rss_mb"), "MB"),
                        num(cmp.get("peak_memory_ratio"), "x"), num(max(loads), "", 1) if loads else "—"])
    parts = [
        f"TFX's native-Keras taxi pipeline on both sides (its module file, {cfg.get('train_steps', '?')} train / "
        f"{cfg.get('eval_steps', '?')} eval steps, its EvalConfig plus two slicing specs), Beam DirectRunner in "
        "memory, on generated taxi-shaped data; the systems alternate. CPU and memory are summed over each run's "
        f"process tree; nothing warm on penstock's side (`PENSTOCK_WORKER={cfg.get('penstock_worker', 'inline')}`).",
        table(["rows", "penstock wall", "TFX wall", "ratio", "penstock CPU", "TFX CPU", "CPU ratio",
               "penstock peak", "TFX peak", "memory ratio", "load (max)"], overall),
    ]
    for size in d.get("sizes") or []:
        components = get(size, "comparison.components") or {}
        if not components:
            continue
        rows = []
        for cid, c in components.items():
            pc, tc = c.get("penstock") or {}, c.get("tfx") or {}
            rows.append([f"`{cid}`", num(pc.get("seconds"), "s"), num(tc.get("seconds"), "s"),
                         num(c.get("wall_ratio"), "x"), num(pc.get("cpu_seconds"), "s"), num(tc.get("cpu_seconds"), "s"),
                         num(c.get("cpu_ratio"), "x"), num(pc.get("peak_rss_mb"), "MB"), num(tc.get("peak_rss_mb"), "MB")])
        parts += [f"Per component, {size['rows']:,} rows (seconds between each execution's start and end in each "
                  "system's ML Metadata; penstock's Evaluator and InfraValidator run at the same time, so their "
                  "CPU and memory windows overlap):",
                  table(["component", "penstock", "TFX", "ratio", "penstock CPU", "TFX CPU", "CPU ratio",
                         "penstock peak", "TFX peak"], rows)]
    if met:
        def verdict(key: str) -> str:
            return "met" if met.get(key) else "not met"

        parts.append(
            f"Targets, at {met.get('judged_at_rows', 0):,} rows: end to end ≤ {targets.get('end_to_end_wall')}× TFX "
            f"({verdict('end_to_end_wall')}); every component ≤ {targets.get('component_wall')}× "
            f"({verdict('every_component')}), none slower than TFX ({verdict('none_slower_than_tfx')}); peak memory "
            f"≤ TFX's ({verdict('peak_memory')}) and flat from 100k to 1M rows "
            + (f"({verdict('memory_flat')}: {num(met['memory_growth_100k_to_1m'], 'x')})."
               if met.get("memory_growth_100k_to_1m") is not None else "(not measured: no 1M-row run in the file).")
        )
    parts.append(footer(d, "vs_tfx_scale.py"))
    return "\n\n".join(parts)


def render_overhead(d: dict[str, Any]) -> str:
    targets, ref = d.get("targets") or {}, d.get("reference_tfx_1_16") or {}
    rows = []
    for shape, label in (("chain", "chain"), ("fan_out", "fan-out")):
        for field, what in (("first_run_ms_per_component", "first run"), ("cached_ms_per_component", "cached rerun")):
            value = get(d, f"{shape}.{field}")
            if value is None:
                continue
            rows.append([f"{what}, {label}", num(value, "ms"), f"≤ {targets.get(field, '—')} ms",
                         num(ref.get(field), "ms") if shape == "chain" else "—"])
    if d.get("help_seconds") is not None:
        rows.append(["`penstock --help`", num(d["help_seconds"], "s"), f"≤ {targets.get('help_seconds', '—')} s", "—"])
    n = get(d, "chain.components")
    intro = f"{n} trivial function components as a chain and as a fan-out on SQLite; figures are per component."
    return "\n\n".join([intro, table(["measure", "penstock", "target", "TFX 1.16 (reference)"], rows),
                        footer(d, "overhead.py")])


def render_data_scale(d: dict[str, Any]) -> str:
    rows = []
    for size in d.get("sizes") or []:
        mem, ceiling = size.get("in_memory") or {}, size.get("pyarrow_read") or {}
        beam, mp = size.get("beam_in_memory") or {}, size.get("multi_processing") or {}
        dask = size.get("dask") or {}
        ratios = size.get("ratios") or {}
        rows.append([f"{size.get('rows', 0):,}", num(size.get("file_mb"), "MB"),
                     num(mem.get("example_gen_s"), "s"), num(mem.get("statistics_gen_s"), "s"),
                     num(mem.get("rows_per_s"), "", 0), num(mem.get("peak_memory_mb"), "MB"),
                     num(beam.get("total_s"), "s"), f"{num(mp.get('total_s'), 's')} / {num(mp.get('peak_memory_mb'), 'MB')}",
                     f"{num(dask.get('total_s'), 's')} / {num(dask.get('peak_memory_mb'), 'MB')}",
                     f"{num(ceiling.get('seconds'), 's', 2)} ({num(ceiling.get('cpu_seconds'), 'CPU s', 2)})",
                     f"{num(ratios.get('example_gen_vs_pyarrow_read_per_core'), '×')} / "
                     f"{num(ratios.get('total_vs_pyarrow_read_per_core'), '×')}"])
    header = ["rows", "CSV", "ExampleGen", "StatisticsGen", "rows/s (both)", "peak memory",
              "Beam in-memory total", "Beam multi-processing total / memory", "DaskRunner total / memory",
              "pyarrow read (ceiling)",
              "CPU vs pyarrow: ExampleGen / both"]
    intro = ("CsvExampleGen + StatisticsGen on taxi-shaped CSVs with the default runner (penstock's in-process "
             "engine), against Beam's DirectRunner in-memory and multi-processing, penstock's DaskRunner on a "
             "two-worker LocalCluster (its start and the workers' TensorFlow imports included, ~10 s, once: "
             "StatisticsGen reuses ExampleGen's cluster), and a plain pyarrow read (best of three, warm page cache).")
    per_core = [get(size, "ratios.total_vs_pyarrow_read_per_core") for size in d.get("sizes") or []]
    per_core = [r for r in per_core if r is not None]
    target = ("Targets: peak memory flat as the data grows (met: nothing holds more than a bounded window "
              "of batches); both components within 3× of the pyarrow read per core "
              f"({'met' if per_core and max(per_core) <= 3 else 'not met'}: "
              f"{' / '.join(num(r, '×') for r in per_core) or '—'} in CPU seconds; the stage breakdown below "
              "shows the floor that real TFDV and the gzip tf.Example format set).")
    return "\n\n".join([intro, table(header, rows), target, footer(d, "data_scale.py")])


def render_data_breakdown(d: dict[str, Any]) -> str:
    stages, replaced = d.get("stages_cpu_s") or {}, d.get("replaced_cpu_s") or {}
    rows = [[f"`{name}`", num(seconds, "s", 2), num(replaced.get(name), "s", 2)] for name, seconds in stages.items()]
    rows.append(["**total**", num(d.get("total_cpu_s"), "s", 2), "—"])
    intro = (f"CPU seconds per stage for {d.get('rows', 0):,} taxi-shaped rows, one thread each "
             f"(tf.Examples {num(d.get('serialized_mb'), 'MB')}, gzip {num(d.get('gzip_mb'), 'MB')}); the last column "
             f"times the library the stage replaced (tfx-bsl's encoder/decoder, zlib) on the same data. "
             f"A plain pyarrow read takes {num(d.get('pyarrow_read_cpu_s'), 'CPU s', 2)}: the stages total "
             f"{num(d.get('total_vs_pyarrow_read'), '×')} that.")
    parts = [intro, table(["stage", "CPU", "library it replaced"], rows)]
    if d.get("floor_vs_pyarrow_read") is not None:
        parts.append(
            f"**The floor.** Whatever its encoder and decoder, an implementation must read the CSV (at best at "
            f"pyarrow's speed), compute TFDV's statistics over the columns and gzip the required output once: "
            f"{num(d.get('pyarrow_read_cpu_s'), 's', 2)} + {num(stages.get('statistics_gen.tfdv_statistics'), 's', 2)} + "
            f"{num(stages.get('example_gen.gzip'), 's', 2)} = {num(d.get('floor_cpu_s'), 'CPU s', 2)}, "
            f"{num(d.get('floor_vs_pyarrow_read'), '×')} the read (TFDV's statistics alone are "
            f"{num(d.get('tfdv_statistics_vs_pyarrow_read'), '×')}). With the real TFDV and the gzip tf.Example "
            f"format, the 3×-per-core target is {'within reach' if d['floor_vs_pyarrow_read'] <= 3 else 'out of reach'}. "
            "StatisticsGen's `sample_rate` lowers TFDV's share when statistics of a sample will do.")
    parts.append(footer(d, "data_breakdown.py"))
    return "\n\n".join(parts)


def render_compile(d: dict[str, Any]) -> str:
    target = d.get("target_s")
    rows = [
        ["Kubeflow compile, fresh process (median)", num(get(d, "kubeflow_fresh_process_s.median"), "s"),
         f"≤ {target} s" if target is not None else "—", num(d.get("tfx_kubeflow_v2_dag_runner_s"), "s")],
        ["Airflow DAG, fresh process (median)", num(get(d, "airflow_fresh_process_s.median"), "s"), "—", "—"],
        ["warm compile, in process", num(get(d, "in_process.warm_compile_s"), "s"), "—", "—"],
    ]
    intro = f"Compiling a {d.get('tasks', '?')}-task pipeline for the orchestrators."
    return "\n\n".join([intro, table(["measure", "penstock", "target", "TFX 1.16 (reference)"], rows),
                        footer(d, "compile.py")])


def render_serving(d: dict[str, Any]) -> str:
    floor = d.get("in_process") or {}
    rows = [["in-process SavedModel call (floor)", "1", num(floor.get("p50_ms"), "ms", 3),
             num(floor.get("p99_ms"), "ms", 2), num(floor.get("requests_per_s"), "", 0)]]
    for mode in ("no_batching", "batching"):
        for key, level in (d.get(mode) or {}).items():
            protocol, _, concurrency = key.partition("_c")
            label = f"{protocol.upper()}" + (" (batching)" if mode == "batching" else "")
            rows.append([label, concurrency, num(level.get("p50_ms"), "ms", 3), num(level.get("p99_ms"), "ms", 2),
                         num(level.get("requests_per_s"), "", 0)])
    c_client = d.get("c_client") or {}
    bare = c_client.get("bare_http") or {}
    if bare:
        rows.append(["bare uvicorn, no model (HTTP floor), C client", "1", num(bare.get("p50_ms"), "ms", 3),
                     num(bare.get("p99_ms"), "ms", 2), num(bare.get("requests_per_s"), "", 0)])
    for mode in ("no_batching", "batching"):
        for key, level in (c_client.get(mode) or {}).items():
            protocol, _, concurrency = key.partition("_c")
            label = f"{protocol.upper()}, C client" + (" (batching)" if mode == "batching" else "")
            latency = num(level["p50_ms"], "ms", 3) if "p50_ms" in level else f"mean {num(level.get('mean_ms'), 'ms', 3)}"
            rows.append([label, concurrency, latency, num(level.get("p99_ms"), "ms", 2),
                         num(level.get("requests_per_s"), "", 0)])
    ratios = d.get("ratios") or {}
    rollbacks = d.get("rollback") or {}
    rollback_text = "; ".join(
        f"{name}: {num(r.get('failed'), '', 0)} of {num(r.get('requests'), '', 0)} requests failed"
        for name, r in rollbacks.items()) or "not measured"
    summary = (
        f"REST p50 at concurrency 1 is {num(ratios.get('rest_p50_c1_over_in_process_ms'), 'ms', 3)} above the "
        f"in-process call (target ≤ 0.2 ms); with batching, throughput at concurrency 64 is "
        f"{num(ratios.get('grpc_throughput_c64_over_c1'), '×', 2)} that at concurrency 1 over gRPC (target ≥ 8×) "
        f"and {num(ratios.get('rest_throughput_c64_over_c1'), '×', 2)} over REST, with penstock's Python load "
        f"generator (it shares the 2 CPUs with the server). With C load generators ({c_client.get('tools', 'not run')}): "
        f"REST p50 at concurrency 1 is {num(ratios.get('c_client_rest_p50_c1_over_in_process_ms'), 'ms', 3)} above the "
        f"in-process call; gRPC throughput with batching at concurrency 64 is "
        f"{num(ratios.get('c_client_grpc_throughput_c64_over_c1'), '×', 2)} that at concurrency 1 (REST "
        f"{num(ratios.get('c_client_rest_throughput_c64_over_c1'), '×', 2)}). The HTTP stack alone (uvicorn with "
        f"penstock's protocol, a fixed answer, no model) answers at p50 {num(ratios.get('bare_http_p50_c1_ms'), 'ms', 3)}: "
        f"penstock's REST adds {num(ratios.get('c_client_rest_p50_c1_over_bare_http_ms'), 'ms', 3)} to that, the "
        f"model run included. gRPC answers carry their values "
        f"in the typed fields (float_val). Rollback under load (16 clients; delete the newest version, or pin the "
        f"older one by config reload): {rollback_text} (target 0). "
        f"Model: {d.get('model', '?')}; request: {d.get('request', '?')}; load average at start "
        f"{d.get('load_average_at_start', '?')}."
    )
    return "\n\n".join([table(["path", "concurrency", "p50", "p99", "requests/s"], rows), summary,
                        footer(d, "serving.py")])


def flatten(data: Any, prefix: str = "", depth: int = 0) -> Iterable[tuple[str, Any]]:
    if isinstance(data, dict) and depth < 3:
        for key, value in data.items():
            if key in ("machine", "measured_at", "config"):
                continue
            yield from flatten(value, f"{prefix}.{key}" if prefix else key, depth + 1)
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield prefix, data


STORE_ORDER = {"local": 0, "s3": 1, "gs": 2}  # rows of the object-store table: the local run first


def render_remote_root(d: dict[str, Any]) -> str:
    results = d.get("results") or {}
    modes = {"local": "local disk", "s3": "S3 (moto)", "gs": "GCS (emulator)"}
    rows = []
    for pipeline, summary in results.items():
        for mode, figures in sorted(summary.items(), key=lambda kv: STORE_ORDER.get(kv[0], len(STORE_ORDER))):
            components = figures.get("components") or {}
            slowest = sorted(components.items(), key=lambda kv: -kv[1].get("seconds", 0))[:3]
            moved = sum(c.get("written_bytes", 0) + c.get("downloaded_bytes", 0) for c in components.values())
            localised = [n for n, c in components.items() if c.get("localised")]
            rows.append([
                pipeline, modes.get(mode, mode), num(figures.get("wall_s"), "s"),
                "—" if mode == "local" else f"{figures.get('ratio_to_local', 0):.2f}×",
                f"{moved / 1e6:,.1f} MB",
                ", ".join(f"{n} {c['seconds']:.1f} s" for n, c in slowest),
                ", ".join(localised) or "none",
            ])
    intro = ("Each pipeline end to end with its root, input data and serving directory on the local disk, on S3 "
             "(moto on loopback; TensorFlow through tensorflow-io) and on GCS (gcp-storage-emulator on loopback; "
             "TensorFlow cannot be pointed at an emulator, so its components are localised). Bytes moved: what the "
             "components wrote under the root plus what localised components downloaded. Target: an object-store "
             f"run within {d.get('target_ratio', 1.5)}× of the local one.")
    header = ["pipeline", "store", "wall (median)", "vs local", "bytes moved", "slowest components", "localised"]
    return "\n\n".join([intro, table(header, rows), footer(d, "remote_root.py")])


def render_generic(name: str, d: dict[str, Any]) -> str:
    rows = [[f"`{k}`", num(v)] for k, v in flatten(d)][:40]
    return "\n\n".join([table(["figure", "value"], rows), footer(d, f"{name}.py")])


def render_warm_start(d: dict[str, Any]) -> str:
    def trials(mode: str) -> str:
        return ", ".join(f"{t['steps']}: {'blessed' if t['blessed'] else 'no'} (AUC {num(t['auc'], digits=3)})"
                         for t in get(d, f"{mode}.trials") or [])

    def steps(mode: str) -> str:
        found = get(d, f"{mode}.steps_to_bless")
        return num(found, digits=0) if found is not None else f"not within {max(d.get('ladder') or [0])}"

    span_1 = d.get("span_1") or {}
    rows = [["from scratch", steps("scratch"), trials("scratch")],
            ["warm start from span 1's blessed model", steps("warm_start"), trials("warm_start")]]
    intro = (f"Taxi sample cut into two spans by time; span 1 trained from scratch ({num(span_1.get('steps'), digits=0)} "
             f"steps, blessed, AUC {num(span_1.get('auc'), digits=3)}); then span 2 trained with an increasing number "
             f"of steps until the Evaluator blesses the model ({d.get('thresholds', '')}).")
    ratio = d.get("fewer_steps")
    ladder = ", ".join(str(x) for x in d.get("ladder") or [])
    summary = (f"Warm start needs {num(ratio, 'x')} fewer steps (steps tried: {ladder}; the smallest that was "
               "blessed counts, so a mode blessed at the first rung may need even fewer)." if ratio else "")
    return "\n\n".join(x for x in [intro, table(["span 2", "steps to be blessed", "trials (steps: verdict)"], rows),
                                    summary, footer(d, "warm_start.py")] if x)


def render_evaluator_fast_path(d: dict[str, Any]) -> str:
    summary, cfg = d.get("summary") or {}, d.get("config") or {}
    labels = {"evaluator_seconds": ("Evaluator, wall (median)", "s"),
              "evaluator_cpu_seconds": ("Evaluator, CPU (median)", "s"),
              "wall_seconds": ("whole taxi run, wall (median)", "s")}
    rows = [[label, num(get(summary, f"{key}.tfma"), unit), num(get(summary, f"{key}.fast_path"), unit),
             num(get(summary, f"{key}.ratio"), "x")] for key, (label, unit) in labels.items()]
    loads = [r["loadavg_before"][0] for r in d.get("runs") or []]
    rows_measured = ", ".join(f"{r:,}" for r in cfg.get("rows") or [])
    intro = (f"The taxi pipeline (penstock's side of `bench/vs_tfx_scale.py`), {rows_measured} rows, "
             f"{cfg.get('runs', '?')} runs alternating between TFMA's own code (`PENSTOCK_TFMA_FAST_PATH=0`) and "
             "the fast path; identical metrics and plots are tested "
             "(`tests/components/test_evaluator_fast_confusion.py`). The load varied "
             f"({num(min(loads), '', 1)} to {num(max(loads), '', 1)}): CPU seconds are the steadier figure."
             if loads else "")
    return "\n\n".join(x for x in [intro, table(["measure", "TFMA's code", "fast path", "ratio"], rows),
                                    footer(d, "evaluator_fast_path.py")] if x)


RENDERERS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "vs_tfx": ("penstock vs TFX 1.16, penguin pipeline", render_vs_tfx),
    "vs_tfx_scale": ("penstock vs TFX 1.16, taxi pipeline at scale", render_vs_tfx_scale),
    "evaluator_fast_path": ("The Evaluator's fast path through TFMA's confusion matrices", render_evaluator_fast_path),
    "overhead": ("Orchestration overhead", render_overhead),
    "data_scale": ("Data components at scale", render_data_scale),
    "data_breakdown": ("Data components, stage by stage", render_data_breakdown),
    "compile": ("Compiling for Kubeflow and Airflow", render_compile),
    "serving": ("Model server latency and throughput", render_serving),
    "remote_root": ("Pipelines on an object store", render_remote_root),
    "warm_start": ("Warm start: steps to a blessed model on a new span", render_warm_start),
}


def render(results_dir: pathlib.Path = RESULTS) -> str:
    files = {p.stem: p for p in sorted(results_dir.glob("*.json"))}
    names = [n for n in ORDER if n in files] + [n for n in files if n not in ORDER and n not in BY_HAND]
    sections = []
    for name in names:
        try:
            data = json.loads(files[name].read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"warning: skipping {files[name]}: {e}", file=sys.stderr)
            continue
        title, renderer = RENDERERS.get(name, (name.replace("_", " ").capitalize(), None))
        body = renderer(data) if renderer else render_generic(name, data)
        sections.append(f"### {title} — `bench/{name}.py`\n\n{body}")
    return "\n\n".join(sections) + "\n"


def write_readme(markdown: str, readme: pathlib.Path = README) -> None:
    try:
        text = readme.read_text()
    except OSError as e:
        sys.exit(f"error: cannot read {readme}: {e}")
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        sys.exit(f"error: {readme} has no {START} ... {END} block; add the two markers where the tables go")
    new = text[: start + len(START)] + "\n" + markdown + text[end:]
    readme.write_text(new)
    print(f"rewrote the benchmark block in {readme}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite the {START} block of README.md")
    parser.add_argument("--results", type=pathlib.Path, default=RESULTS)
    parser.add_argument("--readme", type=pathlib.Path, default=README)
    args = parser.parse_args()
    markdown = render(args.results)
    if args.write:
        write_readme(markdown, args.readme)
    else:
        sys.stdout.write(markdown)


if __name__ == "__main__":
    main()
