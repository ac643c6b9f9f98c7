"""Choosing the tf.distribute strategy the Trainer runs ``run_fn`` under.

``auto`` is correct by construction: the default strategy on CPU or one GPU (TensorFlow places
ops on the GPU by itself), MirroredStrategy when several GPUs are visible. ``tpu`` connects to
the TPU named by the ``TPU_NAME`` environment variable (empty: a TPU VM's local TPU) and fails
with a clear error when none answers.
"""

from __future__ import annotations

import os
from typing import Any

STRATEGIES = ("auto", "default", "mirrored", "tpu")


def resolve_strategy(name: str, component_id: str = "Trainer") -> tuple[Any, str]:
    """(strategy, the name of what was chosen)."""
    import tensorflow as tf

    from penstock.errors import ExecutionError, PipelineDefinitionError

    if name not in STRATEGIES:
        raise PipelineDefinitionError(f"{component_id}: strategy {name!r} is not one of {STRATEGIES}")
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy(), "default"
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(), "mirrored"
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver), "tpu"
    except Exception as e:  # TensorFlow raises several types when no TPU exists
        raise ExecutionError(component_id, f"strategy 'tpu': no TPU reachable (TPU_NAME="
                             f"{os.environ.get('TPU_NAME', '')!r}): {type(e).__name__}: {e}") from e
