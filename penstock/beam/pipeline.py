"""One place that turns a pipeline's ``beam_pipeline_args`` into a Beam pipeline.

Every Beam-based executor calls :func:`make_pipeline` so that runner selection behaves the same
everywhere: no arguments means Beam's DirectRunner in its in-memory mode (on a small machine the
fastest choice: TFDV on 500k rows took 17.5 s in memory vs 33.9 s multi-processing on 2 cores);
anything else (``--direct_running_mode=multi_processing``,
``--runner=PortableRunner --job_endpoint=...``, Dataflow/Flink options) passes through unchanged,
except ``--runner=DaskRunner``, which selects penstock's Dask runner (``_beam_dask``).
:func:`uses_local_engine` says when data components may skip Beam altogether.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Beam is heavy: imported only when a pipeline is actually built
    import apache_beam as beam

_DASK_RUNNER_NAMES = ("DaskRunner", "dask")


def _has_option(args: list[str], name: str) -> bool:
    return any(a == f"--{name}" or a.startswith(f"--{name}=") for a in args)


def _option_value(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
        if a == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return None


def _without_option(args: list[str], name: str) -> list[str]:
    kept: list[str] = []
    skip_value = False
    for a in args:
        if skip_value:
            skip_value = False
        elif a == f"--{name}":
            skip_value = True
        elif not a.startswith(f"--{name}="):
            kept.append(a)
    return kept


def effective_args(beam_pipeline_args: list[str] | None) -> list[str]:
    """The arguments actually handed to Beam: the user's, plus DirectRunner in-memory defaults
    when they choose no runner (or the DirectRunner without a running mode)."""
    args = list(beam_pipeline_args or [])
    if not _has_option(args, "runner"):
        args.insert(0, "--runner=DirectRunner")
    runner = _option_value(args, "runner")
    if runner in ("DirectRunner", "direct") and not _has_option(args, "direct_running_mode"):
        args.append("--direct_running_mode=in_memory")
    return args


def runs_in_one_process(beam_pipeline_args: list[str] | None) -> bool:
    """True for the in-memory DirectRunner, where redistributing work between stages only costs."""
    args = effective_args(beam_pipeline_args)
    return _option_value(args, "runner") in ("DirectRunner", "direct") and _option_value(
        args, "direct_running_mode"
    ) == "in_memory"


def uses_local_engine(beam_pipeline_args: list[str] | None) -> bool:
    """True when no runner is chosen and the work would run on the in-memory DirectRunner: then
    ExampleGen and StatisticsGen do the same work in this process without Beam (see their
    ``local_engine``), which on one machine is the same computation minus Beam's per-element cost.
    Choosing any runner explicitly, ``--runner=DirectRunner`` included, keeps Beam."""
    return not _has_option(list(beam_pipeline_args or []), "runner") and runs_in_one_process(beam_pipeline_args)


def runner_name(beam_pipeline_args: list[str] | None) -> str:
    return _option_value(effective_args(beam_pipeline_args), "runner") or "DirectRunner"


def workers_share_local_disk(beam_pipeline_args: list[str] | None) -> bool:
    """True when every worker of the runner runs on this machine: the DirectRunner (every mode),
    a portable runner whose workers run in this process (``--environment_type=LOOPBACK``), and
    penstock's DaskRunner on the LocalCluster it starts itself. Any other runner may place
    workers elsewhere, so they must read and write through an object store."""
    args = effective_args(beam_pipeline_args)
    runner = _option_value(args, "runner")
    if runner in ("DirectRunner", "direct"):
        return True
    if runner in _DASK_RUNNER_NAMES:
        return not (_has_option(args, "dask_client_address") or _has_option(args, "dask_scheduler_file"))
    return (_option_value(args, "environment_type") or "").upper() == "LOOPBACK"


# Imported by worker processes first thing: registers the module files this process loaded.
USER_MODULES_PLUGIN = "penstock.runtime.worker_user_modules"

# Imported by out-of-process workers first thing (Beam's --beam_plugins), so that TensorFlow
# there reaches the same stores as here (see penstock.storage.worker).
WORKER_SETUP_MODULE = "penstock.storage.worker"


_options_class: type | None = None


def pipeline_options(args: list[str]) -> Any:
    """Beam's ``PipelineOptions`` for ``args``, whose views are made once per options class.

    Why: Beam calls ``options.view_as(...)`` at least twice for every transform it applies, and
    each call builds an argparse parser of every registered options class and parses the flags
    again (0.66 ms here with TFX's libraries imported). tf.Transform and TFMA apply thousands of
    transforms: on the penguin pipeline that was 1.5 s of Transform's 13 s and 0.8 s of the
    Evaluator's. A view shares the options' values (``_all_options``) and reads or writes them
    there, so the view made first serves every later request for the same class unchanged."""
    global _options_class
    if _options_class is None:
        from apache_beam.options.pipeline_options import PipelineOptions

        class ViewCachingPipelineOptions(PipelineOptions):
            def view_as(self, cls: type) -> Any:
                views = self.__dict__.setdefault("_penstock_views", {})
                view = views.get(cls)
                if view is None:
                    view = views[cls] = super().view_as(cls)
                return view

        _options_class = ViewCachingPipelineOptions
    return _options_class(args)


def make_pipeline(beam_pipeline_args: list[str] | None) -> beam.Pipeline:
    """A Beam pipeline configured from ``beam_pipeline_args`` (DirectRunner in-memory by default)."""
    from penstock import _env

    _env.use_keras_2()  # TFT/TFDV need Keras 2: before anything imports TensorFlow
    import apache_beam as beam

    # Beam warns that python-snappy is missing although its crcmod fallback is compiled (fast).
    logging.getLogger("apache_beam.io.tfrecordio").setLevel(logging.ERROR)

    from penstock.runtime.user_code import USER_MODULES_ENV
    from penstock.storage import endpoints, reach

    reach.prepare_beam()
    args = endpoints.beam_arguments(effective_args(beam_pipeline_args))
    if not workers_share_local_disk(args) and WORKER_SETUP_MODULE not in (_option_value(args, "beam_plugins") or ""):
        args.append(f"--beam_plugins={WORKER_SETUP_MODULE}")
    if os.environ.get(USER_MODULES_ENV) and not runs_in_one_process(args):
        # Worker processes must import the user modules (module files) this process loaded.
        args.append(f"--beam_plugins={USER_MODULES_PLUGIN}")
    if _option_value(args, "runner") in _DASK_RUNNER_NAMES:
        # Beam 2.64 registers no DaskRunner name, and its runner cannot run our pipelines:
        # penstock's runs them (see _beam_dask), selected by the same flag.
        from penstock.integrations.dask.runner import DaskRunner

        return beam.Pipeline(runner=DaskRunner(), options=pipeline_options(_without_option(args, "runner")))
    return beam.Pipeline(options=pipeline_options(args))
