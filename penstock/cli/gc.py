"""``penstock gc``: remove from pipeline roots the files that no LIVE artifact holds (what
killed executions left behind); see ``penstock.storage.gc``."""

from __future__ import annotations

import click

from penstock.cli.inspect import metadata_option, open_store


@click.command()
@metadata_option
@click.option("--pipeline", "pipeline_name", default=None, help="Only the roots of this pipeline's runs.")
@click.option("--root", "roots", multiple=True, metavar="URI",
              help="A pipeline root to collect (repeatable). Default: every root the store's runs recorded.")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--include-running", is_flag=True,
              help="Also remove the files of executions still marked RUNNING in runs that never ended (their "
                   "process was killed). Never use it while a run of these pipelines is in progress.")
def gc(metadata: str | None, pipeline_name: str | None, roots: tuple[str, ...], dry_run: bool,
       include_running: bool) -> None:
    """Remove files of executions that never became LIVE artifacts (killed or failed runs)."""
    from penstock.storage import gc as collector
    from penstock.storage.filesystem import absolute

    store = open_store(metadata)
    chosen = [absolute(r) for r in roots] or collector.pipeline_roots(store, pipeline_name)
    if not chosen:
        click.echo("no pipeline root recorded in this store; pass --root")
        return
    result = collector.collect(store, chosen, dry_run=dry_run, include_running=include_running)
    verb = "would remove" if dry_run else "removed"
    for uri in result.removed:
        click.echo(f"{verb} {uri}")
    for uri in result.running:
        click.echo(f"kept {uri}: its execution is RUNNING in a run that has not ended (--include-running removes it)")
    for uri in result.unknown:
        click.echo(f"kept {uri}: no execution of this store wrote it (another store's root?)")
    click.echo(f"{verb} {len(result.removed)} prefix(es) under {', '.join(chosen)}")
