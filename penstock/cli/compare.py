"""``penstock runs --compare RUN RUN...``: runs side by side as text (or JSON)."""

from __future__ import annotations

import json
from typing import Any

import click

from penstock.metadata.store import MetadataStore


def _value(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def print_comparison(store: MetadataStore, run_ids: list[str], console: Any, as_json: bool = False) -> None:
    from rich.table import Table

    from penstock.report.compare import compare_runs

    comparison = compare_runs(store, run_ids)
    if as_json:
        click.echo(json.dumps({k: v for k, v in comparison.items() if k != "runs"}, indent=2, default=str))
        return
    ids = comparison["run_ids"]
    runs = comparison["runs"]
    overview = Table("", *ids, title="runs (the first is the reference)")
    overview.add_row("pipeline", *[r["run"]["pipeline_name"] for r in runs])
    overview.add_row("state", *[str(r["run"]["state"]) for r in runs])
    overview.add_row("duration", *[_seconds(r["run"]["duration_s"]) for r in runs])
    overview.add_row("blessed", *[", ".join(f"{b['kind']}: {'yes' if b['blessed'] else 'no'}" for b in r["blessings"]) or "-"
                                  for r in runs])
    overview.add_row("pushed", *[", ".join(f"version {p['pushed_version']}" if p["pushed"] else "not pushed"
                                           for p in r["pushes"]) or "-" for r in runs])
    console.print(overview)

    parameters = Table("component", "parameter", *ids, title="parameters that differ")
    for row in comparison["parameters"]:
        parameters.add_row(row["component"], row["parameter"], *row["values"])
    console.print(parameters if comparison["parameters"] else "parameters: the same in every run")
    console.print(f"({comparison['same_parameters']} parameter(s) are the same in every run)")

    cache = Table("component", *ids, title="cache decisions and durations")
    for row in comparison["durations"]:
        cache.add_row(row["component"], *[
            f"{state} {_seconds(duration)}" + (f"\n{decision}" if decision else "") if state else ""
            for state, duration, decision in zip(row["states"], row["durations"], row["cache_decisions"])])
    console.print(cache)

    if comparison["drift"]:
        drift = Table("feature", "split", *ids, "measure", title=f"data statistics drift vs {ids[0]}")
        for row in comparison["drift"]:
            cells = [row["summaries"][0]] + [
                summary + (f"\ndrift {_value(d)}" if d is not None else "")
                for summary, d in zip(row["summaries"][1:], row["drifts"])]
            drift.add_row(row["feature"], row["split"], *cells, row["measure"])
        console.print(drift)

    if comparison["metrics"]:
        metrics = Table("metric", "slice", *ids, *[f"{i} - {ids[0]}" for i in ids[1:]], "threshold",
                        title="metrics per slice")
        for row in comparison["metrics"]:
            metrics.add_row(row["metric"], row["slice"], *[_value(v) for v in row["values"]],
                            *[_value(d) for d in row["deltas"]], row["threshold"])
        console.print(metrics)
    else:
        console.print("metrics: no run has an evaluation")
