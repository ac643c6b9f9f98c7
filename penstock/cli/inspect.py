"""``penstock runs``, ``penstock show`` and ``penstock lineage``: read what ML Metadata recorded."""

from __future__ import annotations

import datetime
import os
from typing import Any

import click

from penstock import settings
from penstock.metadata.states import ExecutionState

METADATA_ENV = "PENSTOCK_METADATA"


def metadata_option_with_default(default: str) -> Any:
    """The ``-m/--metadata`` option every command that opens the store shares; ``$PENSTOCK_METADATA``
    stands in for it when it is not given."""
    return click.option(
        "-m", "--metadata", "metadata", envvar=METADATA_ENV, default=None, metavar="PATH|URL",
        help="Metadata store: a SQLite path, or mysql://user@host:port/db?password_env=VAR (the password "
             f"read from $VAR; or mysql://user:pw@..., &socket=/path for a unix socket). "
             f"Default: ${METADATA_ENV}, else {default}.",
    )


metadata_option = metadata_option_with_default("$PENSTOCK_HOME/metadata.sqlite")


def open_store(metadata: str | None) -> Any:
    from penstock.errors import NotFoundError
    from penstock.metadata import connection
    from penstock.metadata.store import MetadataStore

    spec = metadata or settings.default_metadata_path()
    config = connection.parse(spec)
    if isinstance(config, connection.SqliteConfig) and not os.path.exists(config.path):
        raise NotFoundError(f"no metadata store at {config.path}: run a pipeline first, or pass --metadata")
    return MetadataStore(config)


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, width=max(100, os.get_terminal_size().columns if os.isatty(1) else 160))


_STYLES = {ExecutionState.COMPLETE: "green", ExecutionState.CACHED: "cyan", ExecutionState.FAILED: "red",
           ExecutionState.RUNNING: "blue", ExecutionState.CANCELED: "yellow", "INTERRUPTED": "red"}


def _shown_state(state: str, properties: dict[str, Any], error: str | None) -> tuple[str, str | None]:
    """A RUNNING record whose process on this host is gone is shown as what it is: interrupted
    (the next `penstock run` of its pipeline, --resume and gc record it so)."""
    from penstock.runtime import liveness

    if state == ExecutionState.RUNNING and liveness.process_gone(properties):
        return "INTERRUPTED", liveness.describe_gone(properties)
    return state, error


@click.command()
@metadata_option
@click.option("--pipeline", "pipeline_name", default=None, help="Only runs of this pipeline.")
@click.option("-n", "--limit", default=20, show_default=True, help="How many runs to list.")
@click.option("--compare", is_flag=True, help="Compare the RUN_IDS given side by side (two or more).")
@click.option("--json", "as_json", is_flag=True, help="With --compare: print JSON.")
@click.argument("run_ids", nargs=-1)
def runs(metadata: str | None, pipeline_name: str | None, limit: int, compare: bool, as_json: bool,
         run_ids: tuple[str, ...]) -> None:
    """List runs, newest first, with status and duration; or, with --compare RUN RUN..., put
    runs side by side: parameters, cache decisions, data statistics drift, metrics per slice and
    durations (the first run is the reference)."""
    from rich.table import Table

    if run_ids and not compare:
        raise click.UsageError("run ids are only taken with --compare")
    store = open_store(metadata)
    if compare:
        if len(run_ids) < 2:
            raise click.UsageError("--compare needs two or more run ids")
        from penstock.cli.compare import print_comparison

        print_comparison(store, list(run_ids), _console(), as_json)
        return
    table = Table("run", "pipeline", "state", "started", "duration", "error")
    for run in store.list_runs(pipeline_name)[:limit]:
        state, error = _shown_state(run.state, run.properties, run.error)
        table.add_row(run.run_id, run.pipeline_name, f"[{_STYLES.get(state, '')}]{state}[/]", _when(run.start_ms),
                      _seconds(run.duration_s), (error or "")[:80])
    _console().print(table)


@click.command()
@metadata_option
@click.argument("run_id", required=False)
def show(metadata: str | None, run_id: str | None) -> None:
    """Show RUN_ID (default: the latest run): executions, timings, cache decisions and artifacts."""
    from rich.table import Table

    store = open_store(metadata)
    run = store.get_run(run_id) if run_id else store.latest_run()
    console = _console()
    run_state, run_error = _shown_state(run.state, run.properties, run.error)
    console.print(f"[bold]run {run.run_id}[/] of pipeline [bold]{run.pipeline_name}[/]: {run_state}, "
                  f"started {_when(run.start_ms)}, {_seconds(run.duration_s)}")
    if run_error:
        console.print(f"[red]error:[/] {run_error}")
    table = Table("execution", "component", "state", "duration", "cache decision", "outputs")
    for record in store.run_executions(run.run_id):
        _, outputs = store.execution_artifacts(record.id)
        shown = "\n".join(
            f"{key}: #{a.id} {a.TYPE_NAME} {a.uri}" for key, arts in outputs.items() for a in arts
        )
        state, error = _shown_state(record.state, record.properties, record.error)
        decision = record.cache_decision or ""
        if error:
            decision = (decision + "\n" if decision else "") + f"[red]error: {error}[/]"
        table.add_row(str(record.id), record.component_id, f"[{_STYLES.get(state, '')}]{state}[/]",
                      _seconds(record.duration_s), decision, shown)
    console.print(table)


@click.command()
@metadata_option
@click.argument("artifact_id", type=int)
@click.option("--depth", default=20, show_default=True, help="How many hops to follow each way.")
def lineage(metadata: str | None, artifact_id: int, depth: int) -> None:
    """Show what ARTIFACT_ID was made from (upstream) and what was made from it (downstream)."""
    from rich.tree import Tree

    from penstock.metadata.lineage import Lineage

    store = open_store(metadata)
    graph = Lineage(store)
    root = store.get_artifact(artifact_id)
    console = _console()
    for direction in ("upstream", "downstream"):
        tree = Tree(f"[bold]{direction}[/] of #{root.id} {root.TYPE_NAME} {root.uri}")
        graph.build_tree(tree, artifact_id, direction, depth)
        console.print(tree)


@click.command()
@metadata_option
@click.argument("run_id", required=False)
@click.option("--all-metrics", is_flag=True, help="Also the metrics without a threshold (default: those with one, "
                                                  "and every metric when none has a threshold).")
def metrics(metadata: str | None, run_id: str | None, all_metrics: bool) -> None:
    """Per-slice metrics of RUN_ID's evaluations (default: the latest run), with their thresholds,
    the Evaluator's verdict per slice, and the blessing."""
    from rich.table import Table

    from penstock.report.compare import threshold_text
    from penstock.report.model import RunReport

    store = open_store(metadata)
    report = RunReport(store, run_id)
    console = _console()
    console.print(f"[bold]run {report.run.run_id}[/] of pipeline [bold]{report.run.pipeline_name}[/]: {report.run.state}")
    evaluations = report.evaluations()
    if not evaluations:
        console.print("no evaluation in this run")
    for evaluation in evaluations:
        console.print(f"\n[bold]{evaluation['component']}[/]: ModelEvaluation #{evaluation['artifact']['id']}")
        for problem in evaluation["errors"] + evaluation["warnings"]:
            console.print(f"[yellow]{problem}[/]")
        rows = evaluation["metrics"]
        shown = rows if all_metrics or not any(r["has_threshold"] for r in rows) else [r for r in rows if r["has_threshold"]]
        table = Table("metric", "slice", "value", "threshold", "result")
        for row in shown:
            result = ("[green]passed[/]" if row["passed"] else "[red]FAILED[/]") if row["has_threshold"] else ""
            table.add_row(row["metric"], row["slice"], f"{row['value']:.4f}", threshold_text(row), result)
        console.print(table)
        validation = evaluation["validation"]
        if validation is not None:
            verdict = "[green]validation passed[/]" if validation["ok"] else "[red]validation failed[/]"
            console.print(verdict + "".join(f"\n  {f['slice']}: {f['message']}" for f in validation["failures"]))
    for blessing in report.blessings():
        mark = "[green]BLESSED[/]" if blessing["blessed"] else "[red]NOT BLESSED[/]"
        console.print(f"{blessing['component']}: {mark}" + (f": {blessing['explanation']}" if blessing["explanation"] else ""))

