"""``penstock run-node``: run one component of a pipeline run, for orchestrators that schedule
components as separate tasks (Kubeflow Pipelines containers, Airflow tasks).

Inputs are resolved from ML Metadata: the outputs that each upstream component recorded in the
same run. The task exits non-zero when the component fails, so the orchestrator's own retry and
failure handling apply.
"""

from __future__ import annotations

import signal
import sys

import click

from penstock.cli.inspect import metadata_option_with_default
from penstock.metadata.states import ExecutionState


@click.command("run-node")
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--node", "node_id", required=True, help="Id of the component to run.")
@click.option("--run-id", required=True, help="Pipeline run id shared by all tasks of the run.")
@metadata_option_with_default("the pipeline's own store")
@click.option("--pipeline-root", default=None, help="Override the pipeline root (where artifacts are written).")
@click.option("--no-cache", is_flag=True, help="Execute even if an identical execution exists.")
@click.option("--max-attempts", type=click.IntRange(1, 100), default=None,
              help="Override the component's retry policy (orchestrators that retry tasks themselves pass 1).")
def run_node(pipeline_file: str, node_id: str, run_id: str, metadata: str | None, pipeline_root: str | None,
             no_cache: bool, max_attempts: int | None) -> None:
    """Run component NODE of PIPELINE_FILE as part of run RUN_ID."""
    from penstock import _env

    _env.configure_command_process()  # Keras 2 before the pipeline file can import TensorFlow
    from penstock.cli.progress import ConsoleProgress
    from penstock.runtime.loader import load_pipeline
    from penstock.runtime.single_node import run_single_node

    pipeline = load_pipeline(pipeline_file)
    progress = ConsoleProgress([node_id], live=False)
    outcome = run_single_node(pipeline, node_id, run_id, metadata=metadata, pipeline_root=pipeline_root,
                              enable_cache=not no_cache, max_attempts=max_attempts, observer=progress)
    if outcome.state == ExecutionState.CANCELED:
        from penstock.storage.reach import finish_process

        signum = signal.SIGTERM if "SIGTERM" in (outcome.error or "") else signal.SIGINT
        finish_process(128 + signum, threads_left=True)
    if not outcome.succeeded and outcome.error:  # skipped by a Cond (no error): the task succeeds
        sys.exit(1)
