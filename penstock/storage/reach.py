"""Which libraries can open which URIs on this machine, and what each needs first.

A component touches its artifacts' files through one or more of four kinds of file access:

- ``PENSTOCK``: penstock's own code, through ``penstock.storage.filesystem`` (pyarrow's
  filesystems): local paths, ``gs://``, ``s3://``, ``hdfs://``.
- ``BEAM``: Beam's FileSystems (sources, sinks, TFDV/TFT/TFMA writers inside a Beam pipeline).
- ``TENSORFLOW``: ``tf.io.gfile`` (SavedModels, tf.Transform graphs, tf.data readers). It reads
  ``gs://`` natively but cannot be pointed at a GCS emulator; ``s3://`` needs tensorflow-io's
  filesystem plugin, registered here (``prepare_tensorflow``).
- ``LOCAL``: plain Python file calls (user code in function components: ``open(artifact.uri)``).

The node executor asks :func:`unreachable` before running a component: where every library the
component uses reaches every URI, the component runs on the URIs as they are; where one does
not, its inputs and outputs are localised (``penstock.storage.staging``), as KFP v2's launcher
does for every component.
"""

from __future__ import annotations

import atexit
import enum
import importlib.util
import os
import sys
import threading
from collections.abc import Iterable

from penstock import _env
from penstock.storage import endpoints
from penstock.storage.filesystem import scheme


class Access(enum.Enum):
    """The values are what components list in ``FILE_ACCESS``."""

    PENSTOCK = "penstock"
    BEAM = "beam"
    TENSORFLOW = "tensorflow"
    LOCAL = "local"


_PYARROW_MODULES = {"gs": "pyarrow._gcsfs", "s3": "pyarrow._s3fs", "s3a": "pyarrow._s3fs", "hdfs": "pyarrow._hdfs"}
_BEAM_NEEDS = {"gs": ("google.cloud.storage", "apache-beam[gcp]"), "s3": ("boto3", "boto3 (apache-beam[aws])"),
               "hdfs": ("hdfs", "hdfs (apache-beam's HDFS filesystem)")}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def unreachable(access: Access, uri: str) -> str | None:
    """Why ``access`` cannot open ``uri`` here, or None when it can."""
    kind = scheme(uri)
    return _WHY_NOT[access](kind) if kind else None


def _plain_files(kind: str) -> str | None:
    return f"code using plain file calls cannot open {kind}:// URIs"


def _pyarrow(kind: str) -> str | None:
    module = _PYARROW_MODULES.get(kind)
    return None if module is not None and _installed(module) else f"pyarrow has no {kind}:// filesystem here"


def _beam(kind: str) -> str | None:
    need = _BEAM_NEEDS.get(kind)
    if need is None:
        return f"penstock does not configure Beam for {kind}:// URIs"
    return None if _installed(need[0]) else f"Beam needs {need[1]} for {kind}:// URIs"


def _tensorflow(kind: str) -> str | None:
    if kind == "gs" and endpoints.current().gcs_emulator:
        return "TensorFlow's GCS filesystem cannot be pointed at a GCS emulator (STORAGE_EMULATOR_HOST is set)"
    if kind in ("s3", "s3a") and not _installed("tensorflow_io"):
        return "TensorFlow needs tensorflow-io for s3:// URIs (pip install 'penstock[s3]')"
    return None if kind in ("gs", "s3", "s3a", "hdfs") else f"TensorFlow has no {kind}:// filesystem"


_WHY_NOT = {Access.LOCAL: _plain_files, Access.PENSTOCK: _pyarrow, Access.BEAM: _beam, Access.TENSORFLOW: _tensorflow}


def first_unreachable(accesses: Iterable[Access], uris: Iterable[str]) -> str | None:
    """The first reason any of ``accesses`` cannot open any of ``uris``, naming the URI."""
    uris = list(uris)
    for access in accesses:
        for uri in uris:
            reason = unreachable(access, uri)
            if reason is not None:
                return f"{uri}: {reason}"
    return None


# -- preparing libraries ----------------------------------------------------------------------
_lock = threading.Lock()
_tensorflow_s3_ready = False


def prepare_tensorflow(uris: Iterable[str]) -> None:
    """Make ``tf.io.gfile`` able to open ``uris`` (for ``s3://``: :func:`prepare_tensorflow_s3`)."""
    if any(scheme(u) in ("s3", "s3a") for u in uris):
        prepare_tensorflow_s3()


def tensorflow_s3_available() -> bool:
    return _installed("tensorflow_io")


def prepare_tensorflow_s3() -> None:
    """Point tensorflow-io's S3 filesystem at the configured endpoint and register it with
    TensorFlow (once per process; nothing without tensorflow-io)."""
    global _tensorflow_s3_ready
    if _tensorflow_s3_ready:
        return
    with _lock:
        if _tensorflow_s3_ready or not tensorflow_s3_available():
            return
        for name, value in endpoints.tensorflow_s3_environment().items():
            os.environ.setdefault(name, value)
        _env.use_keras_2()
        # Importing tensorflow_io registers its filesystems (~0.3 s). Registering its plugin
        # directly would be quicker, but tf.Transform imports tensorflow_io whenever it is
        # installed, and a second registration fails: one way for everyone.
        import tensorflow_io  # noqa: F401

        _tensorflow_s3_ready = True


def tensorflow_s3_registered() -> bool:
    return _tensorflow_s3_ready


def finish_process(code: int, *, threads_left: bool = False) -> None:
    """End the process with ``code`` (0: return). tensorflow-io's S3 filesystem crashes every process that
    used it at exit ("pure virtual method called", exit code 134) in the AWS SDK's static
    destructors, after Python has finished: such a process runs its exit hooks, flushes and
    leaves before those destructors run. So does one with ``threads_left``: threads still running
    canceled components, which a normal exit would wait for. Any other process exits normally."""
    if not _tensorflow_s3_ready and not threads_left:
        if code:
            sys.exit(code)
        return  # a caller embedding the CLI goes on
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed stream: nothing left to flush
            pass
    os._exit(code)


def prepare_beam() -> None:
    """Beam's GCS client retries Google's default credentials for ~22 s before it goes
    anonymous; against a GCS emulator (which Google's own clients reach anonymously) go
    anonymous at once. Called where Beam is imported anyway (``make_pipeline``, workers)."""
    if not endpoints.current().gcs_emulator:
        return
    try:
        from apache_beam.internal.gcp import auth
    except ImportError:  # pragma: no cover - Beam without its GCP extra: nothing to prepare
        return
    credentials = getattr(auth, "_Credentials", None)
    if credentials is not None and not credentials._credentials_init:
        with credentials._credentials_lock:
            credentials._credentials = None
            credentials._credentials_init = True
