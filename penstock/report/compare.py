"""Lines up any number of runs side by side: parameters, cache decisions, data statistics drift,
metric values per slice and component durations. The first run is the reference that drift and
metric changes are measured against (``penstock runs --compare A B C``, the UI's compare page)."""

from __future__ import annotations

import json
from typing import Any

from penstock.metadata.store import MetadataStore


def _metrics(data: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for evaluation in data["evaluations"]:
        for row in evaluation["metrics"]:
            found.setdefault((row["metric"], row["slice"]), row)
    return found


def threshold_text(row: dict[str, Any] | None) -> str:
    """A metric row's threshold as text: ">= 0.7", "<= 0.2", plus a relative change's note."""
    if row is None or not row["has_threshold"]:
        return ""
    parts = [f">= {row['lower']:.4g}"] if row["lower"] is not None else []
    parts += [f"<= {row['upper']:.4g}"] if row["upper"] is not None else []
    parts += [row["note"]] if row.get("note") else []
    return ", ".join(parts)


def metric_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (metric, slice) found in any run: each run's value and its change vs the first."""
    per_run = [_metrics(d) for d in runs]
    keys = sorted({k for m in per_run for k in m}, key=lambda k: (k[0], k[1] != "Overall", k[1]))
    rows = []
    for key in keys:
        found = [m.get(key) for m in per_run]
        values = [r["value"] if r else None for r in found]
        first = values[0]
        rows.append({
            "metric": key[0], "slice": key[1], "values": values,
            "deltas": [v - first if v is not None and first is not None else None for v in values[1:]],
            "threshold": threshold_text(next((r for r in reversed(found) if r is not None), None)),
        })
    return rows


def duration_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    nodes = [{n["id"]: n for n in d["nodes"]} for d in runs]
    rows = []
    for component in dict.fromkeys(c for per_run in nodes for c in per_run):
        found = [per_run.get(component) for per_run in nodes]
        rows.append({"component": component,
                     "states": [n["state"] if n else "" for n in found],
                     "durations": [n["duration_s"] if n else None for n in found],
                     "cache_decisions": [n["cache_decision"] if n else "" for n in found]})
    return rows


def parameter_rows(store: MetadataStore, runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """(rows for the parameters that differ between runs, how many parameters are the same in all)."""
    ids = [{n["id"]: n["execution_id"] for n in d["nodes"] if n["execution_id"] is not None} for d in runs]
    records = store.get_executions({i for per_run in ids for i in per_run.values()})
    params = [{c: records[e].parameters for c, e in per_run.items() if e in records} for per_run in ids]
    rows, same = [], 0
    for component in dict.fromkeys(c for per_run in params for c in per_run):
        names = sorted({k for per_run in params for k in per_run.get(component, {})})
        for name in names:
            values = [per_run[component].get(name) if component in per_run else None for per_run in params]
            texts = [json.dumps(v, sort_keys=True, default=str) if v is not None else "" for v in values]
            if len(set(texts)) == 1:
                same += 1
                continue
            rows.append({"component": component, "parameter": name, "values": texts})
    return rows, same


def _split_view(stats: dict[str, Any], feature: dict[str, Any]) -> dict[str, Any] | None:
    for split in ("train", *stats["splits"]):
        if split in feature["splits"]:
            return dict(feature["splits"][split], split=split)
    return None


def _drift(reference: dict[str, Any] | None, view: dict[str, Any] | None) -> tuple[float | None, str]:
    """(drift vs the reference, what it measures): numeric features, the mean's shift in the
    reference's standard deviations; categorical ones, the L-infinity distance between their
    top-value distributions (TFDV's drift measure for categorical features)."""
    if reference is None or view is None or reference["kind"] != view["kind"]:
        return None, ""
    if view["kind"] == "numeric":
        spread = reference.get("std_dev") or 0.0
        shift = abs(view["mean"] - reference["mean"])
        return (shift / spread if spread else (0.0 if shift == 0 else None)), "mean shift in std devs"
    if view["kind"] == "categorical":
        a = {t["value"]: t["fraction"] for t in reference.get("top_values", [])}
        b = {t["value"]: t["fraction"] for t in view.get("top_values", [])}
        return max((abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b)), default=0.0), "L-infinity"
    return None, ""


def _summary(view: dict[str, Any] | None) -> str:
    if view is None:
        return ""
    if view["kind"] == "numeric":
        return f"mean {view['mean']:.4g}, std {view['std_dev']:.4g}, missing {view['missing_pct']}%"
    if view["kind"] == "categorical":
        top = (view.get("top_values") or [{}])[0]
        return f"{view['unique']} values, top {top.get('value', '-')} ({top.get('fraction', 0):.0%})"
    return f"missing {view['missing_pct']}%"


def drift_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per statistics component and feature (train split when there is one): a summary per run and
    its drift from the first run."""
    rows = []
    components = dict.fromkeys(s["component"] for d in runs for s in d["statistics"])
    for component in components:
        stats = [next((s for s in d["statistics"] if s["component"] == component), None) for d in runs]
        features = dict.fromkeys(f["name"] for s in stats if s for f in s["features"])
        for name in features:
            views = []
            for s in stats:
                feature = next((f for f in s["features"] if f["name"] == name), None) if s else None
                views.append(_split_view(s, feature) if s and feature else None)
            drifts = [_drift(views[0], v) for v in views[1:]]
            rows.append({"component": component, "feature": name, "summaries": [_summary(v) for v in views],
                         "drifts": [d for d, _ in drifts], "measure": next((m for _, m in drifts if m), ""),
                         "split": next((v["split"] for v in views if v), "")})
    return rows


def compare_runs(store: MetadataStore, run_ids: list[str]) -> dict[str, Any]:
    """Everything the comparison shows for ``run_ids`` (two or more), the first as the reference."""
    from penstock.report.model import gather_run

    runs = [gather_run(store, run_id) for run_id in run_ids]
    parameters, same = parameter_rows(store, runs)
    return {
        "runs": runs,
        "run_ids": [d["run"]["run_id"] for d in runs],
        "parameters": parameters, "same_parameters": same,
        "durations": duration_rows(runs),
        "drift": drift_rows(runs),
        "metrics": metric_rows(runs),
    }
