"""``penstock run PIPELINE_FILE``."""

from __future__ import annotations

import sys
from typing import Any

import click

from penstock.cli.inspect import metadata_option_with_default
from penstock.metadata.states import ExecutionState


@click.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@metadata_option_with_default("the pipeline's own store")
@click.option("--no-cache", is_flag=True, help="Execute every component, ignoring earlier results.")
@click.option("--resume", "resume", is_flag=False, flag_value="latest", default=None, metavar="[RUN_ID]",
              help="Resume a failed run (the latest if no id): skip what completed, start at the failure.")
@click.option("--from", "from_node", metavar="COMPONENT", help="Start at this component (and run what depends on it).")
@click.option("--to", "to_node", metavar="COMPONENT", help="Stop after this component (run only what it needs).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Components run in parallel at most.")
@click.option("--fail-if-not-blessed", is_flag=True,
              help="Exit with code 2 when the run completes but a model it evaluated was not blessed (for CI).")
@click.option("-v", "--verbose", is_flag=True, help="Show library logs and full tracebacks.")
def run(pipeline_file: str, metadata: str | None, no_cache: bool, resume: str | None, from_node: str | None,
        to_node: str | None, workers: int | None, fail_if_not_blessed: bool, verbose: bool) -> None:
    """Run the pipeline defined in PIPELINE_FILE on this machine.

    Ctrl-C once: start nothing new and wait for the running components; twice, or SIGTERM: stop
    now. Either way the run is recorded CANCELED (exit code 130, or 143 for SIGTERM) and
    --resume continues it."""
    import os

    if verbose:
        os.environ["PENSTOCK_VERBOSE"] = "1"
    from penstock import _env

    _env.configure_command_process()  # Keras 2 before the pipeline file can import TensorFlow
    from penstock.cli.progress import ConsoleProgress
    from penstock.metadata import connection
    from penstock.orchestrators.local.runner import LocalRunner
    from penstock.runtime.loader import load_pipeline
    from penstock.runtime.workers.host import mode_from_environment

    pipeline = load_pipeline(pipeline_file)
    if metadata:
        pipeline.metadata = connection.parse(metadata)
    progress = ConsoleProgress([n.id for n in pipeline.order])
    resume_arg: bool | str = False if resume is None else (True if resume == "latest" else resume)
    with progress:
        # Heavy components run in a fork of the warm daemon when one runs (`penstock warm`), else
        # here: PENSTOCK_WORKER, see penstock.runtime.workers.host.
        result = LocalRunner(max_workers=workers, observer=progress, worker=mode_from_environment("auto")).run(
            pipeline, resume=resume_arg, from_node=from_node, to_node=to_node, enable_cache=not no_cache
        )
    console = progress.console
    for line in verdicts(result, pipeline):
        console.print(line)
    style = "green" if result.succeeded else "red"
    console.print(f"[{style}]run {result.run_id} {result.state.lower()}[/] in {result.duration_s:.1f} s")
    same_store = " (on the same --metadata store)" if metadata else ""
    resume_hint = f"penstock run {pipeline_file} --resume {result.run_id}{same_store}"
    if result.state == ExecutionState.CANCELED:
        console.print(f"Continue it with: {resume_hint}")
        from penstock.storage.reach import finish_process

        # 128 + the signal, as a shell reports a process the signal ended. Canceled components
        # may still run in their threads, recorded and discarded already: do not wait for them.
        finish_process(128 + result.signal if result.signal else 130, threads_left=True)
    if not result.succeeded:
        for node_id, error in result.errors.items():
            if not error.startswith("not run"):
                console.print(f"[red]{node_id}[/]: {error}")
        console.print(f"Fix the cause, then resume with: {resume_hint}")
        sys.exit(1)
    unblessed = not_blessed(result, pipeline)
    if fail_if_not_blessed and unblessed:
        console.print(f"[yellow]--fail-if-not-blessed[/]: not blessed by {', '.join(unblessed)}")
        sys.exit(2)


def not_blessed(result: Any, pipeline: Any) -> list[str]:
    """Components of this run that produced a blessing saying no (model or infrastructure);
    resolvers, which re-list earlier verdicts, do not count."""
    from penstock.dsl.resolver import Resolver
    from penstock.dsl.standard_artifacts import InfraBlessing, ModelBlessing

    return sorted(
        node_id for node_id, outputs in result.outputs.items()
        if not isinstance(pipeline.node(node_id), Resolver)
        for artifact in outputs.values()
        if isinstance(artifact, (ModelBlessing, InfraBlessing)) and artifact.get_property("blessed") != 1
    )


def verdicts(result: Any, pipeline: Any) -> list[str]:
    """The decisions a user runs a pipeline for: was the model blessed, was it pushed, and why."""
    from penstock.dsl.resolver import Resolver
    from penstock.dsl.standard_artifacts import InfraBlessing, ModelBlessing, PushedModel

    lines = []
    for node_id, outputs in result.outputs.items():
        if isinstance(pipeline.node(node_id), Resolver):  # it re-lists earlier verdicts
            continue
        for artifact in outputs.values():
            if isinstance(artifact, (ModelBlessing, InfraBlessing)):
                blessed = artifact.get_property("blessed") == 1
                why = artifact.custom_properties.get("explanation", "")
                mark = "[green]blessed[/]" if blessed else "[yellow]not blessed[/]"
                lines.append(f"{node_id}: model {mark}" + (f": {why}" if why else ""))
            elif isinstance(artifact, PushedModel):
                if artifact.get_property("pushed") == 1:
                    lines.append(f"{node_id}: [green]pushed[/] version {artifact.get_property('pushed_version')} "
                                 f"to {artifact.custom_properties.get('pushed_destination', '?')}")
                else:
                    lines.append(f"{node_id}: [yellow]not pushed[/]: {artifact.custom_properties.get('reason', '')}")
    return lines
