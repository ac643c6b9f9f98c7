"""Vega-Lite specs for the report's charts, built from the dicts ``model`` gathers.

Graphs (the pipeline DAG, the lineage) are laid out here in layers, left to right (longest path
from a source, rows ordered by the mean row of their predecessors to limit crossings), then drawn
by Vega-Lite as boxes, edges and arrowheads.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from penstock.metadata.states import ExecutionState

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
STATE_COLORS = {
    ExecutionState.COMPLETE: "#2e7d32",
    ExecutionState.CACHED: "#0277bd",
    ExecutionState.REUSED: "#00838f",
    ExecutionState.FAILED: "#c62828",
    ExecutionState.RUNNING: "#ef6c00",
    ExecutionState.SKIPPED: "#9e9e9e",
    "NOT RUN": "#bdbdbd",
    ExecutionState.CANCELED: "#6d4c41",
}
KIND_COLORS = {"artifact": "#6a1b9a", "execution": "#37474f"}
SPLIT_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
_BOUND_COLORS = {"lower": "#b71c1c", "upper": "#e65100"}
_COLUMN_PX, _ROW_PX, _BOX_W, _BOX_H = 200, 64, 0.78, 0.62


def layered_layout(node_ids: list[str], edges: list[dict[str, str]]) -> dict[str, tuple[int, float]]:
    """(layer, row) per node: layer = longest path from a source; rows centred per layer."""
    preds: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if e["source"] in node_ids and e["target"] in node_ids:
            preds[e["target"]].append(e["source"])
    layer: dict[str, int] = {}

    def depth(nid: str, visiting: frozenset[str] = frozenset()) -> int:
        if nid not in layer:
            ps = [p for p in preds[nid] if p not in visiting]  # tolerate cycles in odd metadata
            layer[nid] = 1 + max((depth(p, visiting | {nid}) for p in ps), default=-1)
        return layer[nid]

    for nid in node_ids:
        depth(nid)
    layers: dict[int, list[str]] = defaultdict(list)
    for nid in node_ids:
        layers[layer[nid]].append(nid)
    row: dict[str, float] = {}
    for index in sorted(layers):
        members = layers[index]
        if index > 0:
            def barycentre(nid: str) -> float:
                rows = [row[p] for p in preds[nid] if p in row]
                return sum(rows) / len(rows) if rows else 0.0
            members.sort(key=barycentre)
        for position, nid in enumerate(members):
            row[nid] = position - (len(members) - 1) / 2
    return {nid: (layer[nid], row[nid]) for nid in node_ids}


def _edge_points(source: tuple[int, float], target: tuple[int, float], rows_between: list[float]) -> list[tuple[float, float]]:
    """Polyline of an edge: straight between adjacent layers; an edge skipping layers bends
    above (or below) the boxes it would otherwise cross."""
    (sx, sy), (tx, ty) = source, target
    start, end = (sx + _BOX_W / 2, sy), (tx - _BOX_W / 2, ty)
    if tx - sx <= 1 or not rows_between:
        return [start, end]
    above, below = min(rows_between) - 0.5, max(rows_between) + 0.5
    detour = above if abs(above - (sy + ty) / 2) <= abs(below - (sy + ty) / 2) else below
    return [start, (sx + 0.5 + _BOX_W / 4, detour), (tx - 0.5 - _BOX_W / 4, detour), end]


def graph_spec(nodes: list[dict[str, Any]], edges: list[dict[str, str]], *, color_field: str,
               colors: dict[str, str], tooltip: list[str], title: str, column_px: int = _COLUMN_PX) -> dict[str, Any]:
    """Boxes for ``nodes`` (each with id, label and ``color_field``), arrows for ``edges``."""
    positions = layered_layout([n["id"] for n in nodes], edges)
    layers = max((p[0] for p in positions.values()), default=0) + 1
    boxes = []
    for n in nodes:
        x, y = positions[n["id"]]
        boxes.append({**{k: n.get(k) for k in tooltip}, "label": n["label"], "color": n[color_field],
                      "x": x - _BOX_W / 2, "x2": x + _BOX_W / 2, "y": y - _BOX_H / 2, "y2": y + _BOX_H / 2,
                      "cx": x, "cy": y})
    points, heads = [], []
    bends: list[float] = []
    for index, e in enumerate(edges):
        if e["source"] not in positions or e["target"] not in positions:
            continue
        source, target = positions[e["source"]], positions[e["target"]]
        between = [r for (layer, r) in positions.values() if source[0] < layer < target[0]]
        path = _edge_points(source, target, between)
        bends.extend(y for _, y in path)
        points += [{"edge": index, "step": step, "x": x, "y": y} for step, (x, y) in enumerate(path)]
        (x1, y1), (x2, y2) = path[-2], path[-1]
        angle = math.degrees(math.atan2((y2 - y1) * _ROW_PX, (x2 - x1) * column_px))
        heads.append({"x": x2, "y": y2, "angle": angle})
    rows = [p[1] for p in positions.values()] + bends or [0.0]
    y_min, y_max = min(rows) - 0.5, max(rows) + 0.5
    x_scale = {"domain": [-0.5, layers - 0.5], "nice": False, "zero": False}
    y_scale = {"domain": [y_min, y_max], "nice": False, "zero": False, "reverse": True}
    x_enc: dict[str, Any] = {"type": "quantitative", "scale": x_scale, "axis": None}
    y_enc: dict[str, Any] = {"type": "quantitative", "scale": y_scale, "axis": None}
    color_scale = {"domain": list(colors), "range": list(colors.values())}
    tips = [{"field": k, "type": "nominal"} for k in ["label", *tooltip]]
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": layers * column_px,
        "height": max(1.0, y_max - y_min) * _ROW_PX,
        "config": {"view": {"stroke": None}},
        "layer": [
            {"data": {"values": points},
             "mark": {"type": "line", "color": "#757575", "strokeWidth": 1.5, "interpolate": "monotone"},
             "encoding": {"x": {"field": "x", **x_enc}, "y": {"field": "y", **y_enc},
                          "detail": {"field": "edge", "type": "nominal"},
                          "order": {"field": "step", "type": "quantitative"}}},
            {"data": {"values": heads}, "mark": {"type": "point", "shape": "triangle-right", "filled": True,
                                                 "color": "#757575", "size": 70, "opacity": 1},
             "encoding": {"x": {"field": "x", **x_enc}, "y": {"field": "y", **y_enc},
                          "angle": {"field": "angle", "type": "quantitative", "scale": None}}},
            {"data": {"values": boxes}, "mark": {"type": "rect", "cornerRadius": 6, "opacity": 0.9},
             "encoding": {"x": {"field": "x", **x_enc}, "x2": {"field": "x2"},
                          "y": {"field": "y", **y_enc}, "y2": {"field": "y2"},
                          "color": {"field": "color", "type": "nominal", "scale": color_scale,
                                    "legend": {"title": color_field, "orient": "bottom"}},
                          "tooltip": tips}},
            {"data": {"values": boxes}, "mark": {"type": "text", "color": "white", "fontWeight": "bold",
                                                 "limit": column_px * _BOX_W - 8},
             "encoding": {"x": {"field": "cx", **x_enc}, "y": {"field": "cy", **y_enc},
                          "text": {"field": "label"}, "tooltip": tips}},
        ],
    }


def dag_spec(report: dict[str, Any]) -> dict[str, Any]:
    nodes = []
    for n in report["nodes"]:
        duration = "-" if n["duration_s"] is None else f"{n['duration_s']:.2f} s"
        nodes.append({"id": n["id"], "label": n["id"], "state": n["state"], "duration": duration,
                      "cache decision": n["cache_decision"] or "-", "error": (n["error"] or "-")[:300]})
    return graph_spec(nodes, report["edges"], color_field="state", colors=STATE_COLORS,
                      tooltip=["state", "duration", "cache decision", "error"], title="Pipeline DAG")


def lineage_spec(lineage: dict[str, Any]) -> dict[str, Any]:
    return graph_spec(lineage["nodes"], lineage["edges"], color_field="kind", colors=KIND_COLORS,
                      tooltip=["kind", "detail"], column_px=150,
                      title=f"Lineage of #{lineage['root']['id']} {lineage['root']['type']}")


def timeline_spec(bars: list[dict[str, Any]]) -> dict[str, Any]:
    components = list(dict.fromkeys(b["component"] for b in sorted(bars, key=lambda b: b["start_s"])))
    # Cached executions take milliseconds: give every bar a visible width (the tooltip keeps the truth).
    span = max((b["end_s"] for b in bars), default=0.0) or 1.0
    bars = [{**b, "end_drawn": max(b["end_s"], b["start_s"] + span / 200)} for b in bars]
    return {
        "$schema": SCHEMA,
        "title": "Component timeline (seconds since the run started)",
        "width": 720,
        "height": max(60, 26 * len(components)),
        "data": {"values": bars},
        "mark": {"type": "bar", "cornerRadius": 2},
        "encoding": {
            "y": {"field": "component", "type": "nominal", "sort": components, "title": None},
            "x": {"field": "start_s", "type": "quantitative", "title": "seconds"},
            "x2": {"field": "end_drawn"},
            "color": {"field": "state", "type": "nominal",
                      "scale": {"domain": list(STATE_COLORS), "range": list(STATE_COLORS.values())}},
            "tooltip": [{"field": "component"}, {"field": "attempt", "type": "quantitative"},
                        {"field": "state"}, {"field": "duration_s", "type": "quantitative", "format": ".2f",
                                             "title": "seconds"}],
        },
    }


def feature_spec(feature: dict[str, Any], splits: list[str]) -> dict[str, Any] | None:
    """Train and eval (every split) overlaid: a histogram for numbers, top values for strings."""
    color = {"field": "split", "type": "nominal",
             "scale": {"domain": splits, "range": SPLIT_COLORS[: len(splits)] or SPLIT_COLORS}}
    if feature["kind"] == "numeric":
        rows = [{"split": s, **b} for s, v in feature["splits"].items() for b in v.get("histogram", [])]
        if not rows:
            return None
        return {
            "$schema": SCHEMA, "title": feature["name"], "width": 260, "height": 120,
            "data": {"values": rows},
            "mark": {"type": "rect", "opacity": 0.5},
            "encoding": {
                "x": {"field": "low", "type": "quantitative", "title": None, "scale": {"zero": False}},
                "x2": {"field": "high"},
                "y": {"field": "fraction", "type": "quantitative", "title": "share of values", "axis": {"format": "%"}},
                "y2": {"datum": 0},
                "color": color,
                "tooltip": [{"field": "split"}, {"field": "low", "format": ".3g", "type": "quantitative"},
                            {"field": "high", "format": ".3g", "type": "quantitative"},
                            {"field": "count", "format": ".0f", "type": "quantitative"}],
            },
        }
    if feature["kind"] == "categorical":
        rows = [{"split": s, **t} for s, v in feature["splits"].items() for t in v.get("top_values", [])]
        if not rows:
            return None
        return {
            "$schema": SCHEMA, "title": feature["name"], "width": 260, "height": 120,
            "data": {"values": rows},
            "mark": {"type": "bar"},
            "encoding": {
                "x": {"field": "value", "type": "nominal", "title": None, "sort": "-y", "axis": {"labelLimit": 90}},
                "xOffset": {"field": "split"},
                "y": {"field": "fraction", "type": "quantitative", "title": "share", "axis": {"format": "%"}},
                "color": color,
                "tooltip": [{"field": "split"}, {"field": "value"},
                            {"field": "count", "type": "quantitative", "format": ".0f"}],
            },
        }
    return None


def metric_spec(metric: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One metric across slices; thresholds drawn as red ticks (lower) and orange ticks (upper)."""
    bounds = [{"slice": r["slice"], "bound": r[side], "side": side} for r in rows
              for side in ("lower", "upper") if r[side] is not None]
    layers: list[dict[str, Any]] = [{
        "mark": {"type": "bar"},
        "encoding": {
            "x": {"field": "slice", "type": "nominal", "sort": None, "title": None, "axis": {"labelLimit": 140}},
            "y": {"field": "value", "type": "quantitative", "title": metric},
            "color": {"field": "status", "type": "nominal",
                      "scale": {"domain": ["passed", "failed", "no threshold"],
                                "range": ["#2e7d32", "#c62828", "#78909c"]}},
            "tooltip": [{"field": "slice"}, {"field": "value", "type": "quantitative", "format": ".4f"},
                        {"field": "status"}],
        },
    }]
    if bounds:
        sides = sorted({b["side"] for b in bounds})
        layers.append({
            "data": {"values": bounds},
            "mark": {"type": "tick", "thickness": 3, "size": 40},
            "encoding": {
                "x": {"field": "slice", "type": "nominal", "sort": None},
                "y": {"field": "bound", "type": "quantitative"},
                "stroke": {"field": "side", "type": "nominal", "title": "threshold",
                           "scale": {"domain": sides, "range": [_BOUND_COLORS[s] for s in sides]}},
                "tooltip": [{"field": "side", "title": "threshold"}, {"field": "bound", "type": "quantitative"}],
            },
        })
    values = [{**r, "status": "no threshold" if not r["has_threshold"] else ("passed" if r["passed"] else "failed")}
              for r in rows]
    return {"$schema": SCHEMA, "title": metric, "width": {"step": 48}, "height": 160,
            "data": {"values": values}, "layer": layers,
            "resolve": {"scale": {"color": "independent"}}}


def compare_spec(rows: list[dict[str, Any]], run_ids: list[str]) -> dict[str, Any]:
    """Side-by-side bars of every run per metric and slice."""
    values = [{"metric": r["metric"], "slice": r["slice"], "run": run_id, "value": value}
              for r in rows for run_id, value in zip(run_ids, r["values"]) if value is not None]
    colors = (SPLIT_COLORS * (len(run_ids) // len(SPLIT_COLORS) + 1))[:len(run_ids)]
    return {
        "$schema": SCHEMA, "title": "Metrics per run",
        "data": {"values": values},
        "facet": {"row": {"field": "metric", "type": "nominal", "title": None}},
        "resolve": {"scale": {"y": "independent"}},
        "spec": {
            "width": {"step": 18 * max(2, len(run_ids))}, "height": 110,
            "mark": "bar",
            "encoding": {
                "x": {"field": "slice", "type": "nominal", "title": None},
                "xOffset": {"field": "run"},
                "y": {"field": "value", "type": "quantitative", "title": None},
                "color": {"field": "run", "type": "nominal", "scale": {"domain": run_ids, "range": colors}},
                "tooltip": [{"field": "run"}, {"field": "slice"}, {"field": "value", "type": "quantitative", "format": ".4f"}],
            },
        },
    }
