"""Compile a penstock pipeline to a Kubeflow Pipelines v2 pipeline spec, built with the kfp SDK.

Each component becomes one container task running ``python -m penstock run-node`` in an image
that holds the project (see the repository's Dockerfile). Tasks exchange artifacts by URI through
ML Metadata, as every penstock orchestrator does: a task records its outputs in MLMD under the
KFP run's id, and the next task resolves its inputs from there. KFP therefore only needs the
dependency edges (``.after()``), and compiling touches neither the network nor the pipeline
root: there is no user-code wheel to upload, the code is in the image.

Caching is penstock's, not KFP's. A KFP cache hit skips the container, so the run would have no
record of that component in ML Metadata and the next task could not resolve its inputs; and KFP's
key does not see user-code or input-artifact changes. Every task is compiled with KFP caching off
and penstock's cache, which does, decides inside the task (and records the decision).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

from penstock.dsl.component import Component, Node
from penstock.dsl.pipeline import Pipeline
from penstock.errors import PenstockError, PipelineDefinitionError
from penstock.metadata import connection

# Artifact stores a pod can reach. Anything else is a path on the compiling machine.
REMOTE_SCHEMES = ("gs://", "s3://", "s3a://", "hdfs://", "abfs://", "abfss://", "az://", "wasb://", "wasbs://",
                  "minio://", "oss://", "http://", "https://")
# The image's interpreter and entry point; the local executor swaps in its own interpreter.
ENTRY_POINT = ["python", "-m", "penstock", "run-node"]
# Names of the KFP pipeline parameters every task receives.
RUN_TIME_PARAMETERS = ("pipeline_root", "metadata")


@dataclasses.dataclass
class CompileResult:
    output_path: str
    pipeline_name: str
    tasks: dict[str, str]  # KFP task name -> penstock component id
    warnings: list[str]


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_SCHEMES)


def local_only_settings(pipeline: Pipeline, pipeline_root: str, metadata: str, project_dir: str) -> list[str]:
    """Everything in ``pipeline`` that only exists on this machine, described for the user.

    User-code parameters (module files) under ``project_dir`` are fine: the image holds the
    project. Data paths are not: data belongs in an object store the pods can read.
    """
    found = []
    if not is_remote(pipeline_root):
        found.append(f"pipeline root {pipeline_root!r} is local (use gs://, s3://, ... so every pod can reach it)")
    if not metadata.startswith("mysql://"):
        found.append(f"metadata {metadata!r} is a local SQLite file (pass --metadata mysql://user@host:port/db)")
    project = os.path.abspath(project_dir) + os.sep
    for node in pipeline.order:
        if not isinstance(node, Component):
            continue
        for name, value in node.parameters.items():
            spec = node.SPEC.parameters.get(name)
            for text in _strings(value):
                if not _looks_like_local_path(text):
                    continue
                in_project = os.path.abspath(os.path.join(project, os.path.expanduser(text))).startswith(project)
                if spec is not None and spec.user_code and in_project:
                    continue
                found.append(f"{node.id} parameter {name!r} = {text!r} is a local path")
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _looks_like_local_path(text: str) -> bool:
    if is_remote(text):
        return False
    return text.startswith(("/", "./", "../", "~", "file:")) or (os.sep in text and os.path.exists(text))


def compile_kubeflow(
    pipeline: Pipeline,
    pipeline_file: str,
    output_path: str,
    *,
    image: str,
    metadata: str | None = None,
    pipeline_root: str | None = None,
    pipeline_path: str | None = None,
    allow_local_paths: bool = False,
    project_dir: str | None = None,
    metadata_secret: str | None = None,
) -> CompileResult:
    """Write a KFP v2 pipeline spec (YAML) for ``pipeline`` to ``output_path``.

    ``pipeline_file`` is the file the pipeline came from; tasks load it inside the image at
    ``pipeline_path`` (default: its path relative to ``project_dir``, the build context of the
    image, default the current directory). ``metadata`` and ``pipeline_root`` become KFP
    pipeline parameters, defaulting to the pipeline's own settings, so a run can point elsewhere.
    Local-only settings are an error unless ``allow_local_paths``, then a warning.

    The spec never holds the MySQL password: tasks read it from the environment variable the
    metadata URL names (``?password_env=``, default ``PENSTOCK_METADATA_PASSWORD``).
    ``metadata_secret`` (``SECRET`` or ``SECRET:KEY``, key default ``password``) fills that
    variable in every pod from a Kubernetes secret.
    """
    if not image:
        raise PipelineDefinitionError("compiling for Kubeflow needs a container image (--image)")
    project_dir = os.path.abspath(project_dir or os.getcwd())
    root = pipeline_root or pipeline.pipeline_root
    config = connection.task_config(connection.parse(metadata or pipeline.metadata))
    secret = _secret_reference(metadata_secret, config) if metadata_secret else None
    if secret is not None and isinstance(config, connection.MysqlConfig) and not config.password_env:
        config = dataclasses.replace(config, password_env=connection.DEFAULT_PASSWORD_ENV)
    metadata_value = config.url()
    in_image = pipeline_path or _path_in_image(pipeline_file, project_dir)

    local = local_only_settings(pipeline, root, metadata_value, project_dir)
    if local and not allow_local_paths:
        raise PipelineDefinitionError(
            f"pipeline {pipeline.name!r} cannot run on Kubernetes as declared:\n  - "
            + "\n  - ".join(local)
            + "\nMove data and artifacts to remote storage, or pass --allow-local-paths if the image or "
            "mounted volumes provide them."
        )
    warnings = [f"local-only: {item}" for item in local]
    if isinstance(config, connection.MysqlConfig) and config.password_env and secret is None:
        warnings.append(f"tasks read the metadata password from the environment variable {config.password_env}, "
                        "which the spec does not set: pass --metadata-secret SECRET[:KEY] to fill it from a "
                        "Kubernetes secret, or give the pods that variable otherwise")

    kfp = import_kfp()
    dsl, compiler = kfp["dsl"], kfp["compiler"]
    kubernetes: Any = import_kfp_kubernetes() if secret is not None else None
    task_names = _task_names(pipeline)
    components = {node.id: _container_component(dsl, node.id, task_names[node.id], image, in_image)
                  for node in pipeline.order}

    def body(pipeline_root: str, metadata: str) -> None:
        tasks: dict[str, Any] = {}
        for node in pipeline.order:
            task = components[node.id](run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER, pipeline_root=pipeline_root,
                                       metadata=metadata)
            task.set_display_name(node.id)
            task.set_caching_options(False)  # penstock's cache decides in the task: see module docstring
            if secret is not None:
                kubernetes.use_secret_as_env(task, secret_name=secret[0], secret_key_to_env={secret[1]: secret[2]})
            _set_retry(task, node)
            upstream = [tasks[u.id] for u in node.upstream_nodes()]
            if upstream:
                task.after(*upstream)
            tasks[node.id] = task

    body.__name__ = body.__qualname__ = _identifier(pipeline.name)
    # Defaults of the run-time parameters: KFP reads them off the function's signature.
    body.__defaults__ = (root, metadata_value)
    body.__annotations__ = {"pipeline_root": str, "metadata": str, "return": None}
    pipeline_func = dsl.pipeline(
        name=_kfp_name(pipeline.name),
        description=f"penstock pipeline {pipeline.name}: {len(pipeline.order)} components",
        display_name=pipeline.name,
        pipeline_root=root if is_remote(root) else None,
    )(body)
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    compiler.Compiler().compile(pipeline_func, package_path=output_path)
    return CompileResult(
        output_path=output_path,
        pipeline_name=pipeline.name,
        tasks={name: node_id for node_id, name in task_names.items()},
        warnings=warnings,
    )


def _secret_reference(reference: str, config: connection.MetadataConfig) -> tuple[str, str, str]:
    """(secret name, key, environment variable) for ``--metadata-secret SECRET[:KEY]``."""
    if not isinstance(config, connection.MysqlConfig):
        raise PipelineDefinitionError(f"--metadata-secret {reference}: the metadata store {config.describe()} "
                                      "is not MySQL, so there is no password to take from a secret")
    name, _, key = reference.partition(":")
    if not name:
        raise PipelineDefinitionError(f"--metadata-secret {reference!r}: expected SECRET or SECRET:KEY")
    return name, key or "password", config.password_env or connection.DEFAULT_PASSWORD_ENV


def _path_in_image(pipeline_file: str, project_dir: str) -> str:
    absolute = os.path.abspath(pipeline_file)
    relative = os.path.relpath(absolute, project_dir)
    if relative.startswith(".."):
        raise PipelineDefinitionError(
            f"pipeline file {pipeline_file} is outside the project directory {project_dir}, so the image "
            "built from it does not contain the file; run compile from the project root or pass --pipeline-path "
            "(the file's path inside the image)"
        )
    return relative


def _container_component(dsl: Any, node_id: str, task_name: str, image: str, pipeline_path: str) -> Any:
    def task(run_id: str, pipeline_root: str, metadata: str) -> Any:
        return dsl.ContainerSpec(
            image=image,
            command=list(ENTRY_POINT),
            # KFP retries the task (set_retry below), so the task itself tries once.
            args=[pipeline_path, "--node", node_id, "--run-id", run_id, "--pipeline-root", pipeline_root,
                  "--metadata", metadata, "--max-attempts", "1"],
        )

    # The function's name becomes the KFP component and task name; kfp reads real types off the
    # annotations, which this module's `from __future__ import annotations` turned into strings.
    task.__name__ = task.__qualname__ = task_name
    task.__annotations__ = {"run_id": str, "pipeline_root": str, "metadata": str}
    return dsl.container_component(task)


def _set_retry(task: Any, node: Node) -> None:
    policy = node.retry_policy
    if policy.max_attempts > 1:
        task.set_retry(
            num_retries=policy.max_attempts - 1,
            backoff_duration=f"{max(0, round(policy.backoff_seconds))}s",
            backoff_factor=float(policy.backoff_multiplier),
        )


def _identifier(name: str) -> str:
    text = re.sub(r"\W", "_", name)
    return text if text[:1].isalpha() else f"p_{text}"


def _kfp_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "pipeline"


def _task_names(pipeline: Pipeline) -> dict[str, str]:
    """KFP task names (lower case, '-' only) for each component id; ids differing only in case or
    punctuation would collide in KFP, so they are rejected by name."""
    names: dict[str, str] = {}
    taken: dict[str, str] = {}
    for node in pipeline.order:
        name = _identifier(node.id)
        kfp_name = _kfp_name(name)
        if kfp_name in taken:
            raise PipelineDefinitionError(
                f"components {taken[kfp_name]!r} and {node.id!r} map to the same Kubeflow task name "
                f"{kfp_name!r}; give one of them another id with .with_id('...')"
            )
        taken[kfp_name] = node.id
        names[node.id] = name
    return names


def import_kfp() -> dict[str, Any]:
    """Import the parts of kfp the compiler uses.

    ``import kfp`` also imports the KFP API client and with it the Kubernetes client (~1.3 s of
    the ~1.6 s kfp import). The compiler never talks to a cluster, so when kfp is not loaded yet
    its package initializer runs in kfp's own runtime mode (``_KFP_RUNTIME``, the switch KFP uses
    inside task containers), the DSL is then imported in full, and ``kfp.Client`` stays
    reachable, loaded on first use. ``kfp.components`` (it pulls in ``requests``) is not needed.
    """
    try:
        if "kfp" not in sys.modules:
            previous = os.environ.get("_KFP_RUNTIME")
            os.environ["_KFP_RUNTIME"] = "true"
            try:
                import kfp
            finally:
                if previous is None:
                    del os.environ["_KFP_RUNTIME"]
                else:
                    os.environ["_KFP_RUNTIME"] = previous
            if "Client" not in vars(kfp):
                def lazy_attribute(name: str) -> Any:
                    if name == "Client":
                        from kfp.client import Client

                        return Client
                    raise AttributeError(f"module 'kfp' has no attribute {name!r}")

                kfp.__getattr__ = lazy_attribute
        import kfp.compiler
        import kfp.dsl
    except ImportError as e:
        raise PenstockError(
            f"compiling for Kubeflow needs the kfp SDK ({e}); install it with: pip install 'penstock[kfp]'"
        ) from None
    return {"dsl": kfp.dsl, "compiler": kfp.compiler}


def import_kfp_kubernetes() -> Any:
    """``kfp.kubernetes`` (the kfp-kubernetes package): Kubernetes settings of tasks, here secrets."""
    try:
        from kfp import kubernetes
    except ImportError as e:
        raise PenstockError(
            f"--metadata-secret needs the kfp-kubernetes package ({e}); install it with: pip install 'penstock[kfp]'"
        ) from None
    return kubernetes
