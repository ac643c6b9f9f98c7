"""Set up a worker process that runs penstock components' Beam work out of process (Beam's
``--beam_plugins``, added by ``make_pipeline``; a Dask worker's ``--preload``), so that it reaches
the same object stores as the process that launched the pipeline.

Importing this module is the setup, and costs nothing up front: TensorFlow's ``s3://``
filesystem is registered right after the worker itself imports TensorFlow (TFDV, tf.Transform
and TFMA do), not before, so a worker that never needs TensorFlow never loads it. Nothing else in
penstock imports this module.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any


class _AfterTensorFlowImport(importlib.abc.MetaPathFinder):
    """Runs ``callback`` once ``tensorflow`` has finished importing."""

    def __init__(self, callback: Any) -> None:
        self._callback = callback

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once; and let the other finders find the real module
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader: Any = spec.loader
        original = loader.exec_module
        callback = self._callback

        def exec_module(module: Any) -> None:
            original(module)
            callback()

        loader.exec_module = exec_module
        return spec


def setup() -> None:
    from penstock.storage import reach

    reach.prepare_beam()
    if not reach.tensorflow_s3_available():
        return
    if "tensorflow" in sys.modules:
        reach.prepare_tensorflow_s3()
    elif not any(isinstance(f, _AfterTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterTensorFlowImport(reach.prepare_tensorflow_s3))


setup()
