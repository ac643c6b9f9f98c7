"""Lines two runs' report data up side by side: metric values per slice and component durations."""

from __future__ import annotations

from typing import Any


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


def metric_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (metric, slice) found in either run, with both values and B - A."""
    ma, mb = _metrics(a), _metrics(b)
    rows = []
    for key in sorted(set(ma) | set(mb), key=lambda k: (k[0], k[1] != "Overall", k[1])):
        ra, rb = ma.get(key), mb.get(key)
        va = ra["value"] if ra else None
        vb = rb["value"] if rb else None
        rows.append({
            "metric": key[0], "slice": key[1], "a": va, "b": vb,
            "delta": vb - va if va is not None and vb is not None else None,
            "threshold": threshold_text(rb or ra),
        })
    return rows


def duration_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    na = {n["id"]: n for n in a["nodes"]}
    nb = {n["id"]: n for n in b["nodes"]}
    rows = []
    for component in list(dict.fromkeys([*na, *nb])):
        x, y = na.get(component), nb.get(component)
        rows.append({
            "component": component,
            "a_state": x["state"] if x else "", "a": x["duration_s"] if x else None,
            "b_state": y["state"] if y else "", "b": y["duration_s"] if y else None,
        })
    return rows
