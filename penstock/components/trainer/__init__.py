"""Trainer: the component, the ``FnArgs`` handed to ``run_fn``, and the serving-export helper.

A TFX module file ports by changing its imports: ``from tfx.components.trainer.fn_args_utils
import FnArgs, DataAccessor`` becomes ``from penstock.components.trainer import FnArgs,
DataAccessor`` (or ``penstock.components.trainer.fn_args_utils``). Nothing heavy is imported
here; TensorFlow loads when a dataset is built or a model exported.
"""

from penstock.components.trainer.component import Trainer
from penstock.components.trainer.export import (
    SERVING_DEFAULT,
    SERVING_RAW,
    TRANSFORM_FEATURES,
    export_serving_model,
    make_serving_signatures,
)
from penstock.components.trainer.fn_args_utils import DataAccessor, DatasetOptions, FnArgs

__all__ = [
    "SERVING_DEFAULT",
    "SERVING_RAW",
    "TRANSFORM_FEATURES",
    "DataAccessor",
    "DatasetOptions",
    "FnArgs",
    "Trainer",
    "export_serving_model",
    "make_serving_signatures",
]
