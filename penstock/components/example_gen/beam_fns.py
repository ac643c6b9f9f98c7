"""The Beam DoFns of ExampleGen: thin wrappers around ``conversion``.

They live in an importable module (not in the executor's closure) because Beam's
multi-processing and portable runners import them by name in worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from penstock.components.example_gen import conversion, csv_reader
from penstock.components.example_gen.splitting import SplitConfig

METRICS_NAMESPACE = "penstock.example_gen"


class ReadBatches(beam.DoFn):
    """Read task -> (input split, batch), as ``conversion.iter_batches`` reads them."""

    def __init__(self, source: str, csv_options: csv_reader.CsvOptions | None) -> None:
        self._source = source
        self._csv_options = csv_options

    def process(self, task: conversion.ReadTask) -> Iterator[tuple[str, Any]]:
        for batch in conversion.iter_batches(self._source, task, self._csv_options):
            yield task.input_split, batch


class ToSplitExamples(beam.DoFn):
    """(input split, batch) -> lists of serialized tf.Examples, tagged with their output split:
    one element per split per batch, as per-row Beam elements would cost more than the work."""

    def __init__(self, source: str, split: SplitConfig, kinds: dict[str, str] | None = None) -> None:
        self._convert = conversion.SplitExamples(source, split, kinds)

    def process(self, element: tuple[str, Any]) -> Iterator[Any]:
        for name, chunk in self._convert(*element).items():
            beam.metrics.Metrics.counter(METRICS_NAMESPACE, f"rows.{name}").inc(len(chunk))
            yield beam.pvalue.TaggedOutput(name, chunk)
