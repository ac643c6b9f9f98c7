"""Process-wide settings, applied by whoever owns the process, never on import.

- :func:`use_keras_2` before TensorFlow is first imported: TFT 1.16 and TFMA 0.47 need Keras 2
  (``tf_keras``), and TensorFlow reads ``TF_USE_LEGACY_KERAS`` only on its first import. The
  runtime calls it before any executor runs; the CLI at start.
- :func:`quiet_libraries` and :func:`filter_native_stderr`, by penstock's own commands: library
  noise users cannot act on (CUDA factory registration lines on CPU machines, FutureWarnings
  about Python support dates). A program that imports penstock keeps its own settings.
- :func:`skip_autograph_for_libraries`, by executors that run TensorFlow.

Importing this module changes nothing and imports nothing heavy.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
import warnings
from typing import Any

# What penstock's commands set unless the user did: Keras 2 always, the quiet ones unless
# PENSTOCK_VERBOSE (the warm daemon's environment key applies them too).
KERAS_2 = {"TF_USE_LEGACY_KERAS": "1"}
QUIET_VARIABLES = {"TF_CPP_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "2"}


def use_keras_2() -> None:
    """Choose Keras 2 (``tf_keras``) for TensorFlow, unless the process chose already; KerasTuner
    follows the same choice (see :class:`_KerasTunerKeras2Finder`)."""
    for name, value in KERAS_2.items():
        os.environ.setdefault(name, value)
    if not any(isinstance(f, _KerasTunerKeras2Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _KerasTunerKeras2Finder())


def legacy_keras() -> bool:
    return os.environ.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true", "yes")


class _KerasTunerKeras2Finder(importlib.abc.MetaPathFinder):
    """Makes KerasTuner use Keras 2 when TensorFlow does (``TF_USE_LEGACY_KERAS=1``).

    KerasTuner 1.4 decides its Keras once, in ``keras_tuner.src.backend.config``, by importing
    ``keras``, which is Keras 3 whenever it is installed (TensorFlow 2.16 installs it); it then
    rejects every ``tf_keras`` model ("Expected the model-building function ... to return a valid
    Keras Model instance", keras-team/keras-tuner#1039). While that one module executes, ``keras``
    names ``tf_keras``; nothing else changes."""

    _TARGET = "keras_tuner.src.backend.config"

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self._TARGET or not legacy_keras():
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Keras2Loader(spec.loader)
        return spec


class _Keras2Loader(importlib.abc.Loader):
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        import tf_keras

        missing = object()
        saved = sys.modules.get("keras", missing)
        sys.modules["keras"] = tf_keras
        try:
            self.inner.exec_module(module)
        finally:
            if saved is missing:
                sys.modules.pop("keras", None)
            else:
                sys.modules["keras"] = saved  # type: ignore[assignment]


def configure_command_process() -> None:
    """What a penstock command sets for its own process: Keras 2, quiet libraries, and native
    noise filtered out of stderr."""
    use_keras_2()
    quiet_libraries()
    filter_native_stderr()


def quiet_libraries() -> None:
    """Hide library noise unless PENSTOCK_VERBOSE is set."""
    if os.environ.get("PENSTOCK_VERBOSE"):
        return
    for name, value in QUIET_VARIABLES.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*TF2 support.*")
    warnings.filterwarnings("ignore", message=".*is deprecated.*")
    for name in ("absl", "tensorflow", "apache_beam", "tensorflow_model_analysis", "tfx_bsl", "h5py"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        # absl sets its logger's level again when flags are parsed (TensorFlow and Beam do, on
        # import): a filter stays ("`capital-gain` is not a valid tf.function parameter name").
        if not any(isinstance(f, _BelowError) for f in logger.filters):
            logger.addFilter(_BelowError())


class _BelowError(logging.Filter):
    """Drops library records below ERROR, whatever level the library sets later."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


# Native (C++) log lines printed on every TensorFlow import on machines without a GPU: they are
# not actionable, so `penstock run` drops them. Anything else native code prints passes through.
NATIVE_NOISE = (
    b"Unable to register cuDNN factory",
    b"Unable to register cuFFT factory",
    b"Unable to register cuBLAS factory",
    b"All log messages before absl::InitializeLog()",
    b"TF-TRT Warning: Could not find TensorRT",
    b"This TensorFlow binary is optimized to use available CPU instructions",
    b"To enable the following instructions",
    b"oneDNN custom operations are on",
    b"computation placer already registered",
)


def filter_native_stderr() -> None:
    """Route file descriptor 2 through a filter that drops NATIVE_NOISE lines.

    Python's own ``sys.stderr`` is pointed straight at the terminal (so rich's live view still
    sees a TTY); only writes by native code and child processes go through the filter.
    """
    if os.environ.get("PENSTOCK_VERBOSE") or getattr(filter_native_stderr, "_installed", False):
        return
    import atexit
    import io
    import sys
    import threading

    try:
        sys.stderr.flush()
        real_fd = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
    except OSError:
        return
    sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(real_fd), "wb", 0), encoding="utf-8",
                                  errors="replace", line_buffering=True, write_through=True)

    def pump() -> None:
        with os.fdopen(read_fd, "rb", 0) as pipe:
            for line in iter(pipe.readline, b""):
                if not any(noise in line for noise in NATIVE_NOISE):
                    os.write(real_fd, line)

    thread = threading.Thread(target=pump, name="penstock-stderr-filter", daemon=True)
    thread.start()

    def drain() -> None:
        try:
            os.dup2(real_fd, 2)  # closes the pipe's last writer in this process
        except OSError:
            return
        thread.join(timeout=1.0)

    atexit.register(drain)
    filter_native_stderr._installed = True  # type: ignore[attr-defined]


# Library packages whose code AutoGraph must call as written instead of rewriting it. TensorFlow
# skips `keras` and itself, but not `tf_keras`, the package Keras 2 moved to: without this, the
# first `model.fit` rewrites ~700 Keras internals function by function (11 s for the penguin
# model, whose 100 training steps take 0.1 s). These libraries were written for graph mode and
# never relied on conversion; users' own functions are still converted as before.
AUTOGRAPH_SKIPS = ("tf_keras", "tensorflow_transform", "tensorflow_model_analysis", "tfx_bsl")


def skip_autograph_for_libraries() -> None:
    """Add AUTOGRAPH_SKIPS to AutoGraph's rules (idempotent; imports TensorFlow)."""
    from tensorflow.python.autograph.core import config

    present = {getattr(rule, "_prefix", None) for rule in config.CONVERSION_RULES
               if isinstance(rule, config.DoNotConvert)}
    missing = tuple(config.DoNotConvert(name) for name in AUTOGRAPH_SKIPS if name not in present)
    if missing:
        config.CONVERSION_RULES = tuple(config.CONVERSION_RULES) + missing
