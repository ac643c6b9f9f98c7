"""What changed between two versions of a model: metrics per slice, training data, code,
hyperparameters and training parameters, base model and blessing."""

from __future__ import annotations

import json
from typing import Any

from penstock.registry.catalog import ModelVersion


def evaluator_metrics(view: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(metric, slice) -> row of the version's latest Evaluator evaluation."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for blessing in view["blessings"]:
        for row in (blessing.get("evaluation") or {}).get("metrics", []):
            rows[(row["metric"], row["slice"])] = row
    return rows


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "a": a.get(k), "b": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _data_key(source: dict[str, Any]) -> dict[str, Any]:
    return {"component": source["component"], "span": source["span"], "version": source["data_version"],
            "row_counts": source["row_counts"], "input_files": source["input_files"],
            "input_fingerprint": source["input_fingerprint"], "artifact_id": source["artifact_id"]}


def diff_versions(a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    """``{"a", "b", "metrics": [...], "data": {...}, "code": [...], "hyperparameters": [...],
    "training_parameters": [...], "base_model": {...}, "blessed": {...}}``; B minus A."""
    va, vb = a.view(), b.view()
    ma, mb = evaluator_metrics(va), evaluator_metrics(vb)
    metrics = []
    for key in sorted(set(ma) | set(mb), key=lambda k: (k[0], k[1] != "Overall", k[1])):
        ra, rb = ma.get(key), mb.get(key)
        x = ra["value"] if ra else None
        y = rb["value"] if rb else None
        metrics.append({"metric": key[0], "slice": key[1], "a": x, "b": y,
                        "delta": y - x if x is not None and y is not None else None,
                        "a_passed": ra["passed"] if ra and ra["has_threshold"] else None,
                        "b_passed": rb["passed"] if rb and rb["has_threshold"] else None})
    da = [_data_key(s) for s in va["data"]]
    db = [_data_key(s) for s in vb["data"]]
    code = []
    for component in sorted(set(va["code"]) | set(vb["code"])):
        files_a, files_b = va["code"].get(component, {}), vb["code"].get(component, {})
        for path in sorted(set(files_a) | set(files_b)):
            if files_a.get(path) != files_b.get(path):
                change = "added" if path not in files_a else "removed" if path not in files_b else "changed"
                code.append({"component": component, "path": path, "change": change,
                             "a": files_a.get(path), "b": files_b.get(path)})
    return {
        "name": a.name, "a": a.version, "b": b.version,
        "metrics": metrics,
        "data": {"same": json.dumps(da, sort_keys=True, default=str) == json.dumps(db, sort_keys=True, default=str),
                 "a": da, "b": db,
                 "spans": {"a": [s["span"] for s in da], "b": [s["span"] for s in db]}},
        "code": code,
        "hyperparameters": _changes(_flat(va["hyperparameters"]), _flat(vb["hyperparameters"])),
        "training_parameters": _changes(_flat(va["training_parameters"]), _flat(vb["training_parameters"])),
        "base_model": {"a": va["base_model"], "b": vb["base_model"]},
        "blessed": {"a": va["blessed"], "b": vb["blessed"]},
        "model": {"a": (va["model"] or {}).get("id"), "b": (vb["model"] or {}).get("id")},
    }
