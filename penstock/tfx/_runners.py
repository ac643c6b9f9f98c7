"""TFX's runners on penstock: ``LocalDagRunner`` (and ``BeamDagRunner``, TFX's older local runner)
run a pipeline with penstock's local runner; ``KubeflowV2DagRunner`` writes penstock's Kubeflow
spec.

``python pipeline.py`` (TFX's way) and ``penstock run pipeline.py`` record the same: both run the
pipeline the script hands to ``run`` with penstock's LocalRunner on the pipeline's own store (for
``penstock run`` the loader runs the script and takes the pipeline at that call, see
``penstock.runtime.loader.offer_pipeline``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

from penstock.errors import ExecutionError, PipelineDefinitionError
from penstock.runtime.loader import offer_pipeline

log = logging.getLogger("penstock.tfx")

# Set in the child process LocalDagRunner starts when this process cannot run Keras 2 models.
_CHILD_FLAG = "PENSTOCK_TFX_CHILD_RUN"


def _keras_3_loaded() -> bool:
    """True when TensorFlow is imported and its ``tf.keras`` is Keras 3: TFT and TFMA need Keras 2
    (``tf_keras``), and TensorFlow chooses once, at its first import. TFX's own pipeline files
    import ``tensorflow_model_analysis`` (and so TensorFlow) before anything of TFX's."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return False
    try:
        return not tf.keras.__name__.startswith("tf_keras")
    except Exception:
        return False


class _Observer:
    """Log lines per component, as TFX's runner logs."""

    def node_started(self, node_id: str) -> None:
        log.info("Component %s is running.", node_id)

    def node_finished(self, outcome: Any) -> None:
        detail = outcome.error or outcome.cache_decision
        log.info("Component %s is finished: %s%s", outcome.node_id, outcome.state, f" ({detail})" if detail else "")

    def node_retrying(self, node_id: str, attempt: int, error: str) -> None:
        log.warning("Component %s failed (attempt %d), retrying: %s", node_id, attempt, error)

    def run_stopping(self, message: str) -> None:
        log.warning("%s", message)


class LocalDagRunner:
    """Runs a pipeline on this machine (penstock's LocalRunner: independent components in parallel)."""

    def __init__(self, config: Any = None) -> None:
        self.config = config

    def run(self, pipeline: Any, run_options: Any = None) -> Any:
        """Run ``pipeline``; raises ExecutionError naming the failed components."""
        from penstock.dsl.pipeline import Pipeline

        if not isinstance(pipeline, Pipeline):
            raise PipelineDefinitionError(f"{type(self).__name__}.run takes a Pipeline, got {pipeline!r:.80}")
        offer_pipeline(pipeline)  # `penstock run FILE` takes it from here
        if _keras_3_loaded() and not os.environ.get(_CHILD_FLAG):
            return _rerun_in_keras_2_process()
        from penstock import _env
        from penstock.orchestrators.local.runner import LocalRunner

        _env.use_keras_2()
        result = LocalRunner(observer=_Observer()).run(pipeline)
        if not result.succeeded:
            errors = "; ".join(f"{k}: {v}" for k, v in result.errors.items() if not v.startswith("not run"))
            raise ExecutionError(pipeline.name, f"run {result.run_id} failed: {errors}")
        log.info("pipeline %s: run %s complete in %.1f s", pipeline.name, result.run_id, result.duration_s)
        return result


def _rerun_in_keras_2_process() -> None:
    """TensorFlow was imported with Keras 3 before penstock could choose Keras 2: run the same
    script again in a child process that chooses first, with the same arguments."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if not script:
        raise ExecutionError(
            "LocalDagRunner",
            "TensorFlow was imported with Keras 3, but TFX's libraries need Keras 2: set TF_USE_LEGACY_KERAS=1 "
            "before importing TensorFlow (or tensorflow_model_analysis)",
        )
    log.info("TensorFlow was imported with Keras 3; running %s again with TF_USE_LEGACY_KERAS=1", script)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", _CHILD_FLAG: "1"}
    done = subprocess.run([sys.executable, os.path.abspath(script), *sys.argv[1:]], env=env)
    if done.returncode != 0:
        raise ExecutionError("LocalDagRunner", f"the pipeline run (child process) exited with {done.returncode}")


class BeamDagRunner(LocalDagRunner):
    """TFX's older local runner: the same as LocalDagRunner here."""


class KubeflowV2DagRunnerConfig:
    """Where compiled tasks run: ``default_image`` (built from penstock's Dockerfile)."""

    def __init__(self, default_image: str | None = None, display_name: str | None = None, **kwargs: Any) -> None:
        self.default_image = default_image
        self.display_name = display_name
        self.extra = kwargs


class KubeflowV2DagRunner:
    """Compiles the pipeline into penstock's KFP v2 spec (``<output_dir>/<output_filename>``,
    default ``<pipeline name>_pipeline.yaml``) instead of running it."""

    def __init__(self, config: KubeflowV2DagRunnerConfig | None = None, output_dir: str | None = None,
                 output_filename: str | None = None) -> None:
        self.config = config or KubeflowV2DagRunnerConfig()
        self.output_dir = output_dir or os.getcwd()
        self.output_filename = output_filename

    def run(self, pipeline: Any, parameter_values: dict[str, Any] | None = None,
            write_out: bool = True) -> str:
        from penstock.orchestrators.kubeflow.compiler import compile_kubeflow

        offer_pipeline(pipeline)
        if not self.config.default_image:
            raise PipelineDefinitionError("KubeflowV2DagRunnerConfig(default_image=...) is required: the image tasks run in")
        script = getattr(sys.modules.get("__main__"), "__file__", None)
        if not script:
            raise PipelineDefinitionError("KubeflowV2DagRunner.run must be called from a pipeline file run as a script")
        output = os.path.join(self.output_dir, self.output_filename or f"{pipeline.name}_pipeline.yaml")
        result = compile_kubeflow(pipeline, os.path.abspath(script), output, image=self.config.default_image,
                                  allow_local_paths=True)
        for warning in result.warnings:
            log.warning("%s", warning)
        return result.output_path


def sqlite_metadata_connection_config(metadata_db_uri: str) -> Any:
    """TFX's helper: an ML Metadata store in a SQLite file (penstock's config; Pipeline takes it)."""
    from penstock.metadata import connection

    return connection.sqlite(metadata_db_uri)


def mysql_metadata_connection_config(host: str, port: int, database: str, username: str, password: str) -> Any:
    """TFX's helper: an ML Metadata store in MySQL."""
    from penstock.metadata import connection

    return connection.mysql(host, database, user=username, password=password, port=int(port))
