"""Warm up heavy imports while the first components run.

A fresh run spends ~15 s importing TensorFlow, Beam, TFDV, TFT and TFMA, and each component
imports what it needs only when it starts, so those imports sit on the critical path one after
another. Once a run knows it will execute something (its first cache miss), one background
thread imports every module the pipeline's components declare in ``HEAVY_MODULES``, in
pipeline order, overlapping them with the work of the first components. A fully cached run
never triggers it and imports nothing heavy.

The cyclic garbage collector is paused while they load: importing allocates millions of
long-lived objects, and the collections they trigger rescan all of them again and again (~2 s
of 12 s). Afterwards everything loaded is frozen out of later collections, so the components'
own collections no longer walk TensorFlow's module graph either.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
from collections.abc import Iterable

_log = logging.getLogger(__name__)


def start_preloading(modules: Iterable[str]) -> threading.Thread:
    wanted = list(dict.fromkeys(modules))
    thread = threading.Thread(target=_import_all, args=(wanted,), name="penstock-preload", daemon=True)
    thread.start()
    return thread


def _import_all(modules: list[str]) -> None:
    """Import ``modules`` in order with the collector paused, then freeze what they loaded
    (also what the warm daemon does before it forks workers)."""
    from penstock import _env

    _env.use_keras_2()
    gc.disable()
    try:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception as e:  # the component reports it when it imports the module itself
                _log.debug("preloading %s failed: %s", name, e)
    finally:
        gc.freeze()
        gc.enable()
