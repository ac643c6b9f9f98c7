"""Renders report data into HTML with Jinja2 (autoescaped templates in ``templates/``).

A written report inlines the vendored Vega, Vega-Lite and vega-embed bundles so the file works
offline and can be mailed or archived; the UI links the same bundles from ``/static/``.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections import defaultdict
from typing import Any

from penstock.report import charts

SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("penstock.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = lambda v: "-" if v is None else f"{v:.2f} s"
    env.filters["number"] = _number
    return env


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def static_file(name: str) -> bytes:
    """A vendored asset; only names in the package's static directory exist."""
    return importlib.resources.files("penstock.report").joinpath("static", name).read_bytes()


@functools.lru_cache(maxsize=1)
def _inline_scripts() -> list[str]:
    # A literal "</script" inside inlined code would close the tag early.
    return [static_file(name).decode("utf-8").replace("</script", "<\\/script") for name in SCRIPTS]


def _scripts(inline: bool) -> dict[str, Any]:
    if inline:
        return {"inline_scripts": _inline_scripts(), "script_urls": []}
    return {"inline_scripts": [], "script_urls": [f"/static/{name}" for name in SCRIPTS]}


class _Charts:
    """Collects chart specs while a template renders; each gets a unique element id."""

    def __init__(self) -> None:
        self.specs: list[tuple[str, dict[str, Any]]] = []

    def add(self, spec: dict[str, Any] | None) -> str:
        if spec is None:
            return ""
        chart_id = f"chart-{len(self.specs)}"
        self.specs.append((chart_id, spec))
        return chart_id


def _report_context(data: dict[str, Any]) -> dict[str, Any]:
    chart_ids = _Charts()
    dag = chart_ids.add(charts.dag_spec(data)) if data["nodes"] else ""
    timeline = chart_ids.add(charts.timeline_spec(data["timeline"])) if data["timeline"] else ""
    feature_charts: dict[tuple[int, str], str] = {}
    for index, stats in enumerate(data["statistics"]):
        for feature in stats["features"]:
            feature_charts[(index, feature["name"])] = chart_ids.add(charts.feature_spec(feature, stats["splits"]))
    metric_charts: list[list[tuple[str, str]]] = []
    for evaluation in data["evaluations"]:
        by_metric: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in evaluation["metrics"]:
            by_metric[row["metric"]].append(row)
        metric_charts.append([(m, chart_ids.add(charts.metric_spec(m, rows))) for m, rows in by_metric.items()])
    lineage = chart_ids.add(charts.lineage_spec(data["lineage"])) if data["lineage"] and data["lineage"]["nodes"] else ""
    return {
        "data": data,
        "run": data["run"],
        "dag_chart": dag,
        "timeline_chart": timeline,
        "feature_charts": feature_charts,
        "metric_charts": metric_charts,
        "lineage_chart": lineage,
        "state_colors": charts.STATE_COLORS,
        "chart_specs": chart_ids.specs,
    }


def render_report(data: dict[str, Any], *, inline: bool = True, nav: bool = False) -> str:
    """The full report page of one run (``inline``: a self-contained file; ``nav``: UI links)."""
    context = _report_context(data)
    return str(_environment().get_template("report.html.j2").render(
        title=f"penstock run {data['run']['run_id']}", nav=nav, **context, **_scripts(inline)))


def render_runs(runs: list[dict[str, Any]]) -> str:
    return str(_environment().get_template("runs.html.j2").render(
        title="penstock runs", nav=True, runs=runs, chart_specs=[], **_scripts(False)))


def render_compare(comparison: dict[str, Any]) -> str:
    """The compare page of ``penstock.report.compare.compare_runs``'s result (two or more runs)."""
    chart_ids = _Charts()
    rows, run_ids = comparison["metrics"], comparison["run_ids"]
    metrics_chart = chart_ids.add(charts.compare_spec(rows, run_ids)) if rows else ""
    return str(_environment().get_template("compare.html.j2").render(
        title="compare " + ", ".join(run_ids), nav=True, c=comparison, runs=comparison["runs"],
        metrics_chart=metrics_chart, state_colors=charts.STATE_COLORS,
        chart_specs=chart_ids.specs, **_scripts(False)))


def render_models(models: list[dict[str, Any]]) -> str:
    return str(_environment().get_template("models.html.j2").render(
        title="penstock models", nav=True, models=models, chart_specs=[], **_scripts(False)))


def render_model(data: dict[str, Any]) -> str:
    """A model's page: its versions, newest first, what serves, rollbacks (``model_page_data``)."""
    return str(_environment().get_template("model.html.j2").render(
        title=f"model {data['name']}", nav=True, m_data=data, chart_specs=[], **_scripts(False)))


def render_model_diff(diff: dict[str, Any]) -> str:
    return str(_environment().get_template("model_diff.html.j2").render(
        title=f"{diff['name']}: version {diff['a']} vs {diff['b']}", nav=True, d=diff, chart_specs=[],
        **_scripts(False)))


def render_error(status: int, message: str) -> str:
    return str(_environment().get_template("error.html.j2").render(
        title=f"{status}", nav=True, status=status, message=message, chart_specs=[], **_scripts(False)))
