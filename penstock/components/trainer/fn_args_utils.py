"""What a Trainer hands to the user's ``run_fn``: TFX's ``FnArgs`` and ``DataAccessor``.

Field names and meanings match ``tfx.components.trainer.fn_args_utils`` so that a TFX module
file ports by changing only its imports. Importing this module is cheap; TensorFlow and
tfx-bsl are imported when a dataset is actually built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any


@dataclasses.dataclass(frozen=True)
class DatasetOptions:
    """Options for :meth:`DataAccessor.tf_dataset_factory`, as ``tfxio.TensorFlowDatasetOptions``
    (which is accepted too). ``num_epochs=None`` repeats forever, as in TFX."""

    batch_size: int
    drop_final_batch: bool = False
    num_epochs: int | None = None
    shuffle: bool = True
    shuffle_buffer_size: int = 10000
    shuffle_seed: int | None = None
    prefetch_buffer_size: int = -1  # tf.data.AUTOTUNE
    reader_num_threads: int = -1
    parser_num_threads: int = -1
    sloppy_ordering: bool = False
    label_key: str | None = None


_OPTION_FIELDS = [f.name for f in dataclasses.fields(DatasetOptions)]


def to_tfxio_options(options: Any) -> Any:
    """A ``tfxio.TensorFlowDatasetOptions`` from ours, from TFX's, or from any object/dict with
    the same fields."""
    from tfx_bsl.public import tfxio

    if isinstance(options, tfxio.TensorFlowDatasetOptions):
        return options
    if isinstance(options, dict):
        values = {k: v for k, v in options.items() if k in _OPTION_FIELDS}
    else:
        values = {k: getattr(options, k) for k in _OPTION_FIELDS if hasattr(options, k)}
    if "batch_size" not in values:
        raise TypeError(f"dataset options need batch_size, got {options!r}")
    return tfxio.TensorFlowDatasetOptions(**values)


def _patterns(file_pattern: str | list[str]) -> list[str]:
    return [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)


@dataclasses.dataclass
class DataAccessor:
    """Reads Examples for ``run_fn``: ``tf_dataset_factory(file_pattern, options, schema)``.

    ``schema`` may be omitted: the Trainer's default applies (the transformed schema when a
    transform graph is wired in, else the input schema).
    """

    default_schema: Any = None
    telemetry_descriptors: list[str] = dataclasses.field(default_factory=lambda: ["penstock", "Trainer"])
    data_view_decode_fn: Callable[..., Any] | None = None

    def _tfxio(self, file_pattern: str | list[str], schema: Any) -> Any:
        from tfx_bsl.public import tfxio

        schema = schema if schema is not None else self.default_schema
        if schema is None:
            raise ValueError(
                "tf_dataset_factory needs a schema: pass one (e.g. "
                "tft.TFTransformOutput(fn_args.transform_output).transformed_metadata.schema) "
                "or wire a Schema or TransformGraph into the Trainer"
            )
        return tfxio.TFExampleRecord(
            file_pattern=_patterns(file_pattern), schema=schema,
            telemetry_descriptors=self.telemetry_descriptors,
        )

    def tf_dataset_factory(self, file_pattern: str | list[str], dataset_options: Any,
                           schema: Any = None) -> Any:
        """A ``tf.data.Dataset`` of (features, label) batches (just features without label_key)."""
        return self._tfxio(file_pattern, schema).TensorFlowDataset(to_tfxio_options(dataset_options))

    def record_batch_factory(self, file_pattern: str | list[str], options: Any,
                             schema: Any = None) -> Iterator[Any]:
        """pyarrow RecordBatches (``options``: ``tfxio.RecordBatchesOptions``)."""
        return self._tfxio(file_pattern, schema).RecordBatches(options)


class HyperParameterConfig(dict[str, Any]):
    """``fn_args.hyperparameters`` from a HyperParameters artifact (a Tuner's best), as TFX
    passes it: KerasTuner's ``HyperParameters.get_config()`` (``{"space": [...], "values": {...}}``),
    so ``keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)`` works. The values
    also read by name, as from the plain dict ``Trainer(hyperparameters={...})`` gives:
    ``fn_args.hyperparameters["learning_rate"]``, ``.get("num_layers", 2)``."""

    def _values(self) -> dict[str, Any]:
        values = dict.get(self, "values")
        return values if isinstance(values, dict) else {}

    def __missing__(self, key: str) -> Any:
        values = self._values()
        if key in values:
            return values[key]
        raise KeyError(f"no hyperparameter {key!r}; tuned values: {sorted(values)}")

    def get(self, key: str, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        return self._values().get(key, default)


@dataclasses.dataclass
class FnArgs:
    """Arguments of ``run_fn(fn_args)``, field for field TFX's ``FnArgs``.

    ``transform_output`` and ``transform_graph_path`` are the same directory (open it with
    ``tft.TFTransformOutput``); ``schema_file`` and ``schema_path`` are the same schema.pbtxt.
    ``distribution_strategy`` (penstock's addition) names the strategy whose scope ``run_fn``
    already runs in.
    """

    working_dir: str | None = None
    train_files: list[str] = dataclasses.field(default_factory=list)
    eval_files: list[str] = dataclasses.field(default_factory=list)
    train_steps: int | None = None
    eval_steps: int | None = None
    schema_path: str | None = None
    schema_file: str | None = None
    transform_graph_path: str | None = None
    transform_output: str | None = None
    data_accessor: DataAccessor | None = None
    serving_model_dir: str | None = None
    eval_model_dir: str | None = None
    model_run_dir: str | None = None
    base_model: str | None = None
    hyperparameters: dict[str, Any] | None = None
    custom_config: dict[str, Any] | None = None
    distribution_strategy: str = "default"
