"""``penstock compile``: turn a pipeline file into something another orchestrator runs.

``--target kubeflow`` writes a KFP v2 pipeline spec (YAML); ``--target airflow`` writes a DAG
file. Both run every component as its own task through ``penstock run-node``, so results land
in ML Metadata exactly as with ``penstock run``. Compiling imports neither TensorFlow nor Beam.
"""

from __future__ import annotations

import os

import click

TARGETS = ("kubeflow", "airflow")


@click.command("compile")
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--target", "-t", type=click.Choice(TARGETS), required=True, help="Orchestrator to compile for.")
@click.option("-o", "--output", default=None,
              help="Output file (default: <pipeline>.yaml for kubeflow, <pipeline>_dag.py for airflow).")
@click.option("--image", default=None, help="kubeflow: container image with the project installed (required).")
@click.option("--metadata", default=None,
              help="ML Metadata connection for the tasks (mysql://user@host:port/db or a SQLite path); "
                   "default: the pipeline's. A password is never written out: tasks read it from "
                   "$PENSTOCK_METADATA_PASSWORD, or the variable named by ?password_env=VAR.")
@click.option("--metadata-secret", default=None, metavar="SECRET[:KEY]",
              help="kubeflow: Kubernetes secret holding the metadata password (key 'password' unless KEY), "
                   "given to every task as the variable the metadata URL names.")
@click.option("--pipeline-root", default=None, help="Where tasks write artifacts; default: the pipeline's.")
@click.option("--pipeline-path", default=None,
              help="kubeflow: path of PIPELINE_FILE inside the image (default: its path relative to the "
                   "current directory, the image's build context).")
@click.option("--allow-local-paths", is_flag=True,
              help="kubeflow: warn instead of failing when data, artifacts or metadata are local paths.")
@click.option("--schedule", default=None, help="airflow: cron expression or preset (default: pipeline.schedule).")
@click.option("--retries", type=click.IntRange(0, 100), default=None,
              help="airflow: retries per task (default: from each component's retry policy).")
@click.option("--dag-id", default=None, help="airflow: DAG id (default: the pipeline name).")
def compile_pipeline(pipeline_file: str, target: str, output: str | None, image: str | None, metadata: str | None,
                     metadata_secret: str | None, pipeline_root: str | None, pipeline_path: str | None, allow_local_paths: bool,
                     schedule: str | None, retries: int | None, dag_id: str | None) -> None:
    """Compile the pipeline in PIPELINE_FILE for Kubeflow Pipelines or Airflow."""
    if target == "kubeflow":
        if not image:
            raise click.UsageError("--target kubeflow needs --image: the container image the tasks run in "
                                   "(build it from the project's Dockerfile)")
        for name, value in (("--schedule", schedule), ("--retries", retries), ("--dag-id", dag_id)):
            if value is not None:
                raise click.UsageError(f"{name} applies to --target airflow only")
        _compile_kubeflow(pipeline_file, output, image, metadata, metadata_secret, pipeline_root, pipeline_path,
                          allow_local_paths)
    else:
        for name, value in (("--image", image), ("--pipeline-path", pipeline_path), ("--metadata-secret", metadata_secret)):
            if value is not None:
                raise click.UsageError(f"{name} applies to --target kubeflow only")
        _compile_airflow(pipeline_file, output, metadata, pipeline_root, schedule, retries, dag_id)


def _compile_kubeflow(pipeline_file: str, output: str | None, image: str, metadata: str | None,
                      metadata_secret: str | None, pipeline_root: str | None, pipeline_path: str | None,
                      allow_local_paths: bool) -> None:
    from penstock.orchestrators.kubeflow.compiler import compile_kubeflow
    from penstock.runtime.loader import load_pipeline

    pipeline = load_pipeline(pipeline_file)
    result = compile_kubeflow(
        pipeline, pipeline_file, output or f"{pipeline.name}.yaml", image=image, metadata=metadata,
        pipeline_root=pipeline_root, pipeline_path=pipeline_path, allow_local_paths=allow_local_paths,
        metadata_secret=metadata_secret,
    )
    for warning in result.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    click.echo(f"wrote {result.output_path}: Kubeflow pipeline {result.pipeline_name!r}, "
               f"{len(result.tasks)} tasks, image {image}")


def _compile_airflow(pipeline_file: str, output: str | None, metadata: str | None, pipeline_root: str | None,
                     schedule: str | None, retries: int | None, dag_id: str | None) -> None:
    from penstock.metadata import connection
    from penstock.orchestrators.airflow.dag import write_dag_file
    from penstock.runtime.loader import load_pipeline

    pipeline = load_pipeline(pipeline_file)  # fail here, not in the Airflow scheduler, on a broken file
    path = write_dag_file(
        pipeline, os.path.abspath(pipeline_file), output or f"{pipeline.name}_dag.py", dag_id=dag_id,
        schedule=schedule, retries=retries, metadata=metadata, pipeline_root=pipeline_root,
    )
    click.echo(f"wrote {path}: Airflow DAG {dag_id or pipeline.name!r}, {len(pipeline.order)} tasks")
    config = connection.task_config(connection.parse(metadata or pipeline.metadata))
    if isinstance(config, connection.MysqlConfig) and config.password_env:
        click.echo(f"tasks read the metadata password from ${config.password_env}: set it in the Airflow "
                   "workers' environment")
