"""``penstock models`` (the model registry, read from ML Metadata) and ``penstock rollback``."""

from __future__ import annotations

import json
from typing import Any

import click

from penstock.cli.inspect import _console, metadata_option, open_store


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _delta(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _kv(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sorted(values.items())) or "-"


@click.command()
@metadata_option
@click.argument("args", nargs=-1, metavar="[NAME | diff NAME:A NAME:B]")
@click.option("--serving-dir", default=None, metavar="DIR",
              help="Which serving directory to report on (default: where the newest version was pushed).")
@click.option("--server", default=None, metavar="URL",
              help="A running server's REST address (http://host:8501): show the versions it serves now.")
@click.option("--all-metrics", is_flag=True, help="Also the metrics without a threshold.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def models(metadata: str | None, args: tuple[str, ...], serving_dir: str | None, server: str | None,
           all_metrics: bool, as_json: bool) -> None:
    """The model registry: every pushed model (no NAME), one model's versions with their lineage,
    blessings, metrics and what serves now (NAME), or what changed between two versions
    (diff NAME:A NAME:B, or diff NAME A B)."""
    from penstock.registry.catalog import Catalog

    catalog = Catalog(open_store(metadata))
    if args and args[0] == "diff":
        _diff(catalog, args[1:], as_json)
    elif len(args) > 1:
        raise click.UsageError("give one model NAME, or: diff NAME:A NAME:B")
    elif args:
        _show(catalog, args[0], serving_dir, server, all_metrics, as_json)
    else:
        _list(catalog, serving_dir, as_json)


def _list(catalog: Any, serving_dir: str | None, as_json: bool) -> None:
    from rich.table import Table

    from penstock.registry.views import models_overview

    rows = models_overview(catalog, serving_dir)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no pushed models in this metadata store yet")
        return
    table = Table("model", "versions", "serving now", "last pushed", "pipeline", "serving directory")
    for row in rows:
        served = ", ".join(map(str, row["served"])) or "nothing"
        table.add_row(row["name"], ", ".join(map(str, row["versions"])),
                      served + (" (pinned)" if row["pinned"] else ""), row["last_pushed"], row["pipeline"],
                      row["serving_dir"])
    _console().print(table)


def _show(catalog: Any, name: str, serving_dir: str | None, server: str | None, all_metrics: bool,
          as_json: bool) -> None:
    from rich.table import Table

    from penstock.registry.views import model_page_data

    data = model_page_data(catalog, name, serving_dir, server)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    console = _console()
    state, live = data["serving_dir"], data["server"]
    served = set(state["served"]) if state else set()
    console.print(f"[bold]model {name}[/]: {len(data['versions'])} pushed version(s)")
    if state:
        console.print(f"serving directory {state['serving_dir']}: policy {state['policy']}"
                      + (" [yellow](pinned by a rollback)[/]" if state["pinned"] else "")
                      + f", serves {', '.join(map(str, state['served'])) or 'nothing'}"
                      + f"; on disk: {', '.join(map(str, state['on_disk'])) or 'none'}"
                      + (f"; labels: {_kv(state['labels'])}" if state["labels"] else ""))
        for error in state["errors"]:
            console.print(f"[red]{error}[/]")
    if live:
        if live["error"]:
            console.print(f"[red]server {live['address']}: {live['error']}[/]")
        else:
            current = [f"version {v} {s}" for v, s in sorted(live["versions"].items()) if s != "END"]
            ended = [str(v) for v, s in sorted(live["versions"].items()) if s == "END"]
            console.print(f"server {live['address']}: " + (", ".join(current) or "no version loaded")
                          + (f" (unloaded: {', '.join(ended)})" if ended else ""))
    for view in data["versions"]:
        mark = " [green](serving)[/]" if view["version"] in served else ""
        console.print(f"\n[bold]version {view['version']}[/]{mark}: pushed {view['pushed_at']} by run "
                      f"{view['pushed_by_run']} (pipeline {view['pipeline']}) to {view['destination']}")
        model = view["model"]
        if model:
            console.print(f"  model #{model['id']} trained by {model['trainer']} in run {model['trained_by_run']} "
                          f"({model['trained_at']})")
        for blessing in view["blessings"]:
            verdict = "[green]blessed[/]" if blessing["blessed"] else "[red]not blessed[/]"
            if blessing["kind"] == "manual":
                console.print(f"  {verdict} by hand by {blessing['by']} at {blessing['at']}: {blessing['reason']}")
                continue
            first = (blessing["explanation"] or "").splitlines()[0] if blessing["explanation"] else ""
            console.print(f"  {verdict} by {blessing['component']} (run {blessing['run_id']}, "
                          f"ModelBlessing #{blessing['artifact_id']})" + (f": {first}" if first else ""))
            rows = (blessing.get("evaluation") or {}).get("metrics", [])
            shown = rows if all_metrics or not any(r["has_threshold"] for r in rows) else [r for r in rows if r["has_threshold"]]
            if shown:
                from penstock.report.compare import threshold_text

                table = Table("metric", "slice", "value", "threshold", "result", box=None, padding=(0, 2))
                for row in shown:
                    result = ("[green]met[/]" if row["passed"] else "[red]FAILED[/]") if row["has_threshold"] else ""
                    table.add_row(row["metric"], row["slice"], _number(row["value"]), threshold_text(row), result)
                console.print(table)
        if view["infra_blessed"] is not None:
            console.print(f"  infra validation: {'passed' if view['infra_blessed'] else 'failed'}")
        for source in view["data"]:
            rows_text = _kv(source["row_counts"]) if isinstance(source["row_counts"], dict) else str(source["row_counts"])
            console.print(f"  data: {source['component']} Examples #{source['artifact_id']} span {_number(source['span'])}"
                          f" version {_number(source['data_version'])}, rows {rows_text}")
            if source["input_fingerprint"]:
                console.print(f"    input fingerprint: {_kv(source['input_fingerprint'])}")
        for component, files in view["code"].items():
            console.print(f"  code: {component}: " + ", ".join(f"{path} {digest}" for path, digest in files.items()))
        console.print(f"  hyperparameters: {_kv(view['hyperparameters'])}")
        if view["training_parameters"]:
            console.print(f"  training parameters: {_kv(view['training_parameters'])}")
        base = view["base_model"]
        if base:
            where = f" ({base['name']} version {base['version']})" if base["version"] is not None else ""
            console.print(f"  base model (warm start): #{base['id']}{where}")
    if data["rollbacks"]:
        console.print("\n[bold]rollbacks[/]")
        for record in data["rollbacks"]:
            console.print(f"  {record['at']} by {record['by']}: to {record['to']}"
                          + (" [yellow](forced)[/]" if record["forced"] else "")
                          + f" (was: {record['before']}): {record['reason']}")


def _parse_version_refs(refs: tuple[str, ...]) -> tuple[str, int, int]:
    def number(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise click.UsageError(f"{text!r} is not a version number") from None

    if len(refs) == 3:
        return refs[0], number(refs[1]), number(refs[2])
    if len(refs) == 2 and all(":" in r for r in refs):
        (name_a, a), (name_b, b) = (r.rsplit(":", 1) for r in refs)
        if name_a != name_b:
            raise click.UsageError(f"diff compares two versions of one model, not {name_a!r} and {name_b!r}")
        return name_a, number(a), number(b)
    raise click.UsageError("usage: penstock models diff NAME:A NAME:B  (or: diff NAME A B)")


def _diff(catalog: Any, refs: tuple[str, ...], as_json: bool) -> None:
    from rich.table import Table

    from penstock.registry.diff import diff_versions

    name, a, b = _parse_version_refs(refs)
    result = diff_versions(catalog.version(name, a), catalog.version(name, b))
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    console = _console()
    console.print(f"[bold]{name}: version {a} -> version {b}[/] (models #{result['model']['a']} -> #{result['model']['b']})")
    table = Table("metric", "slice", f"v{a}", f"v{b}", "change", box=None, padding=(0, 2))
    for row in result["metrics"]:
        table.add_row(row["metric"], row["slice"], _number(row["a"]), _number(row["b"]), _delta(row["delta"]))
    console.print(table if result["metrics"] else "metrics: neither version has an evaluation")
    data = result["data"]
    console.print("data: the same" if data["same"] else
                  f"data: spans {data['spans']['a']} -> {data['spans']['b']}; "
                  + "; ".join(f"{s['component']} #{s['artifact_id']} rows {_kv(s['row_counts'])}" for s in data["b"]))
    if not data["same"]:
        for side in ("a", "b"):
            for source in data[side]:
                if source["input_fingerprint"]:
                    console.print(f"  v{a if side == 'a' else b} input fingerprint: {_kv(source['input_fingerprint'])}")
    console.print("code: unchanged" if not result["code"] else "code:")
    for change in result["code"]:
        console.print(f"  {change['component']}: {change['path']} {change['change']} ({change['a']} -> {change['b']})")
    for section in ("hyperparameters", "training_parameters"):
        changes = result[section]
        label = section.replace("_", " ")
        console.print(f"{label}: unchanged" if not changes else f"{label}: " + "; ".join(
            f"{c['key']}: {json.dumps(c['a'], default=str)} -> {json.dumps(c['b'], default=str)}" for c in changes))
    base = result["base_model"]
    if base["a"] != base["b"]:
        console.print(f"base model: {(base['a'] or {}).get('id', 'none')} -> {(base['b'] or {}).get('id', 'none')}")


@click.command()
@metadata_option
@click.argument("name")
@click.option("--to", "to", required=True, metavar="VERSION|latest",
              help="The version to serve, or 'latest' to remove the pin (the newest version serves again).")
@click.option("--reason", required=True, help="Why (recorded in ML Metadata with who and when).")
@click.option("--serving-dir", default=None, metavar="DIR",
              help="The serving directory holding models.config (default: where the newest version was pushed).")
@click.option("--server", default=None, metavar="URL",
              help="A server's REST address (http://host:8501): wait until it serves the version, and fail if it does not.")
@click.option("--wait", "wait_seconds", default=120.0, show_default=True, help="Seconds to wait for --server.")
@click.option("--force", is_flag=True, help="Serve a version that was never blessed (recorded as forced).")
def rollback(metadata: str | None, name: str, to: str, reason: str, serving_dir: str | None, server: str | None,
             wait_seconds: float, force: bool) -> None:
    """Make version VERSION of model NAME the one served (through models.config, as TF Serving
    documents), recorded in ML Metadata."""
    from penstock.registry.rollback import rollback as do_rollback

    if to != "latest" and not to.isdigit():
        raise click.BadParameter(f"{to!r} is neither a version number nor 'latest'", param_hint="--to")
    if not reason.strip():
        raise click.BadParameter("must say why (it is recorded)", param_hint="--reason")
    result = do_rollback(open_store(metadata), name, None if to == "latest" else int(to), reason,
                         serving_dir=serving_dir, force=force, server=server, wait_seconds=wait_seconds,
                         log=lambda line: click.echo(line))
    what = f"version {result.to}" if result.to is not None else "the latest version (pin released)"
    click.echo(f"{name}: now serving {what} from {result.serving_dir} "
               f"(was: {result.before}); recorded as execution {result.execution_id}")
    if result.server_versions is not None:
        click.echo(f"server {server}: available versions {', '.join(map(str, result.server_versions))}")
    else:
        click.echo(f"servers reading {result.config_file} (--model_config_file with "
                   "--model_config_file_poll_wait_seconds) switch at their next poll")
