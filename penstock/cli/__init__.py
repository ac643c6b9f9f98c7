"""The ``penstock`` command line. Subcommands are imported only when invoked, so ``--help`` and
quick commands start fast and never import TensorFlow or Beam."""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> (module, attribute, one-line help). Integrations register here; nothing is imported
# until the command runs.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("penstock.cli.run", "run", "Run a pipeline file locally."),
    "runs": ("penstock.cli.inspect", "runs", "List runs with status and duration."),
    "show": ("penstock.cli.inspect", "show", "Show a run: executions, timings, cache decisions, artifacts."),
    "metrics": ("penstock.cli.inspect", "metrics", "Per-slice metrics, thresholds and verdicts of a run's evaluations."),
    "lineage": ("penstock.cli.inspect", "lineage", "Show an artifact's upstream and downstream lineage."),
    "run-node": ("penstock.cli.run_node", "run_node", "Run one component of a pipeline run (used by orchestrators)."),
    "serve": ("penstock.serving.cli", "serve", "Serve models over TF Serving's REST and gRPC APIs."),
    "compile": ("penstock.cli.compile", "compile_pipeline", "Compile a pipeline for Kubeflow Pipelines or Airflow."),
    "models": ("penstock.cli.models", "models", "The model registry: models, versions, lineage, blessings, diffs."),
    "rollback": ("penstock.cli.models", "rollback", "Serve an earlier blessed model version again, recorded."),
    "bless": ("penstock.cli.bless", "bless", "Force-bless a model, recorded with who, when and why."),
    "gc": ("penstock.cli.gc", "gc", "Remove files that no LIVE artifact holds from pipeline roots."),
    "report": ("penstock.cli.report", "report", "Write a self-contained HTML report of a run."),
    "ui": ("penstock.cli.report", "ui", "Browse runs in a local web UI."),
    "warm": ("penstock.runtime.workers.cli", "warm", "Keep the TensorFlow stack imported for the next runs."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not _available(name):
            return None
        module_name, attr, _ = COMMANDS[name]
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if not rows:
            return
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _available(name: str) -> bool:
    import importlib.util

    module_name = COMMANDS[name][0]
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:
        return False


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="penstock")
def cli() -> None:
    """penstock: production ML pipelines with typed components, ML Metadata and TF Serving."""


def main(argv: list[str] | None = None) -> None:
    from penstock.storage.reach import finish_process

    finish_process(_run(argv))


def _run(argv: list[str] | None) -> int:
    """Run the command; its exit code."""
    from penstock.errors import PenstockError

    try:
        cli.main(args=argv, prog_name="penstock", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except PenstockError as e:
        click.secho(f"error: {e}", fg="red", err=True)
        return 1
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0
