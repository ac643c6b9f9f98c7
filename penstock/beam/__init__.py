"""Beam, as penstock's data components use it: one place that turns ``beam_pipeline_args`` into
a pipeline and says where its workers run (``pipeline``)."""
