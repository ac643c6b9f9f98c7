"""ExampleGen components: CSV, Parquet or tf.Example TFRecords in, split tf.Examples out, in
TFX's layout (``<uri>/Split-<name>/data_tfrecord-*.gz``).

``component.py`` declares them (importing nothing heavy); ``executor.py`` runs them, reading
through ``csv_reader``, ``spans`` and ``conversion`` and writing with the in-process engine
(``local_engine``) or Beam (``beam_fns``).
"""

from penstock.components.example_gen.component import CsvExampleGen, ImportExampleGen, ParquetExampleGen

__all__ = ["CsvExampleGen", "ImportExampleGen", "ParquetExampleGen"]
