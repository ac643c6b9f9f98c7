"""``penstock report`` writes one run's self-contained HTML report; ``penstock ui`` serves every
run in the metadata store in a local web UI."""

from __future__ import annotations

import os

import click

from penstock.cli.inspect import metadata_option, open_store


@click.command()
@metadata_option
@click.argument("run_id", required=False)
@click.option("-o", "--output", "output", default=None, metavar="FILE",
              help="Where to write the report (default: penstock-report-<RUN_ID>.html).")
def report(metadata: str | None, run_id: str | None, output: str | None) -> None:
    """Write an HTML report of RUN_ID (default: the latest run) that works offline: the DAG,
    timings, data statistics, anomalies, evaluation per slice, blessing, push and lineage."""
    from penstock import _env

    _env.configure_command_process()
    from penstock.report.model import gather_run
    from penstock.report.render import render_report

    store = open_store(metadata)
    data = gather_run(store, run_id)
    path = output or f"penstock-report-{data['run']['run_id']}.html"
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise click.BadParameter(f"directory {directory} does not exist", param_hint="--output")
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_report(data, inline=True))
    click.echo(f"wrote {os.path.abspath(path)} (run {data['run']['run_id']}, {data['run']['state']})")


@click.command()
@metadata_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
def ui(metadata: str | None, host: str, port: int) -> None:
    """Browse every run in the metadata store: run list, per-run reports, /compare?run=RUN&run=RUN...
    for any number of runs, and the model registry (/models)."""
    from penstock import _env

    _env.configure_command_process()
    from penstock.report.server import is_loopback, make_server

    store = open_store(metadata)
    try:
        server = make_server(store, host, port)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    if not is_loopback(host):
        click.secho(f"warning: the UI has no authentication and listens on {host}; it answers any Host name",
                    fg="yellow", err=True)
    click.echo(f"penstock ui serving http://{host}:{server.server_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
