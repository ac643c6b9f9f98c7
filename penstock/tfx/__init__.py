"""TFX's public API (``tfx.v1``, TFX 1.16) on penstock: a TFX pipeline file ports by changing its
imports.

    from tfx import v1 as tfx                 ->  from penstock import tfx
    from tfx.components import Trainer        ->  from penstock.tfx.components import Trainer
    from tfx.proto import trainer_pb2         ->  from penstock.tfx.proto import trainer_pb2

Components here take TFX's arguments (proto messages included) and behave as TFX's do; penstock's
own API (``penstock.Trainer`` ...) keeps its safer defaults. The differences, each deliberate:

- ``ExampleValidator`` records anomalies and the run goes on (TFX); it says once how to turn
  penstock's gate on (``gate="stop"``).
- ``SchemaGen`` infers no value bounds, ``Evaluator`` blesses a model when the EvalConfig has no
  thresholds, ``Transform`` computes statistics unless ``disable_statistics``, ``Trainer`` opens
  no distribution strategy and ``Pipeline`` caches only with ``enable_cache=True``: TFX's defaults.
- ``Pusher`` writes TF Serving's layout under ``base_directory`` with integer versions
  (max + 1) rather than timestamps, and needs no ``model_blessing`` (inside ``Cond`` or not).

Every submodule is imported on first use: ``from penstock import tfx`` imports no TensorFlow,
Beam or ML Metadata.
"""

from penstock.tfx._lazy import lazy_attributes

__version__ = "1.16.0"  # the TFX API version this namespace follows

_SUBMODULES = ("components", "dsl", "extensions", "orchestration", "proto", "testing", "types", "utils", "v1")
__all__ = list(_SUBMODULES)
__getattr__, __dir__ = lazy_attributes(__name__, {}, _SUBMODULES)
