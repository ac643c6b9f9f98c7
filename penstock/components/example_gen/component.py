"""ExampleGen components: CSV, Parquet or tf.Example TFRecords in, split tf.Examples out.

Declarations only (no heavy imports): the executors live in ``executor.py`` and run only when
the component does. Output layout is TFX's: ``<uri>/Split-<name>/data_tfrecord-*.gz``.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Optional

from penstock.dsl.component import Component, ComponentSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import Examples
from penstock.runtime.cache_key import file_fingerprint

_COMMON_PARAMETERS = {
    "input_base": Parameter(str, description="folder holding the input files"),
    "input_pattern": Parameter(
        Optional[str],
        default=None,
        description="glob under input_base; may hold {SPAN}, {VERSION} or {YYYY}/{MM}/{DD}",
    ),
    "input_splits": Parameter(
        dict[str, str],
        default={},
        description="pre-split input: split name -> pattern under input_base (e.g. {'train': 'train/*'})",
    ),
    "output_splits": Parameter(
        dict[str, int],
        default={"train": 2, "eval": 1},
        description="hash buckets per output split (default 2:1 train/eval)",
    ),
    "split_key": Parameter(Optional[str], default=None, description="hash this column instead of the whole row"),
    "split_column": Parameter(
        Optional[str], default=None, description="an existing column whose value names each row's split"
    ),
    "span": Parameter(Optional[int], default=None, description="read this span (default: the latest)"),
    "span_range": Parameter(
        Optional[list[int]], default=None, description="read all spans in [first, last] (inclusive)"
    ),
    "version": Parameter(Optional[int], default=None, description="read this version (default: the latest)"),
}


class _ExampleGen(Component):
    """What every ExampleGen shares: a Beam pipeline reading files and writing tf.Examples."""

    HEAVY_MODULES = ("pyarrow", "tfx_bsl.coders.example_coder")
    USES_BEAM = True
    FILE_ACCESS = ("penstock", "beam")
    VERSION = "1"
    SOURCE: ClassVar[str]  # the input format: "csv", "parquet" or "tfrecord"

    def external_inputs(self) -> dict[str, str]:
        """The chosen span and version and the input files' names, sizes and times: the same
        parameters over new or rewritten files must not reuse an earlier run's examples."""
        from penstock.components.example_gen import spans

        fingerprint = spans.fingerprint(spans.resolve_parameters(self.parameters, self.SOURCE), self.parameters["input_base"])
        if self.parameters.get("schema_file"):  # CsvExampleGen: the schema that fixes column types
            fingerprint["schema_file"] = file_fingerprint(self.parameters["schema_file"])
        return fingerprint


class CsvExampleGen(_ExampleGen):
    """CSV files to tf.Examples; column types (int, float, string) are inferred, missing values
    (empty, NA, ...) become missing features, and malformed input fails naming file and line."""

    SPEC = ComponentSpec(
        outputs={"examples": OutputSpec(Examples)},
        parameters={
            **_COMMON_PARAMETERS,
            "column_types": Parameter(
                dict[str, str], default={}, description="override inferred types: column -> int|float|string"
            ),
            "schema_file": Parameter(
                Optional[str], default=None, description="a schema.pbtxt whose feature types fix column types"
            ),
            "delimiter": Parameter(str, default=","),
            "null_values": Parameter(
                Optional[list[str]], default=None, description="values read as missing (default: '', NA, N/A, NaN, NULL, ...)"
            ),
            "bad_rows": Parameter(
                Literal["error", "skip"],
                default="error",
                description="'skip' drops rows with a wrong field count and reports how many",
            ),
        },
    )
    EXECUTOR = "penstock.components.example_gen.executor:run_csv"
    SOURCE = "csv"


class ParquetExampleGen(_ExampleGen):
    """Parquet files to tf.Examples (ints, bools, dates and timestamps as int64; floats as float)."""

    SPEC = ComponentSpec(outputs={"examples": OutputSpec(Examples)}, parameters=dict(_COMMON_PARAMETERS))
    EXECUTOR = "penstock.components.example_gen.executor:run_parquet"
    SOURCE = "parquet"


class ImportExampleGen(_ExampleGen):
    """TFRecord files of tf.Example (gzip or not), re-split and written in TFX's layout."""

    SPEC = ComponentSpec(outputs={"examples": OutputSpec(Examples)}, parameters=dict(_COMMON_PARAMETERS))
    EXECUTOR = "penstock.components.example_gen.executor:run_import"
    SOURCE = "tfrecord"


__all__ = ["CsvExampleGen", "ImportExampleGen", "ParquetExampleGen"]
