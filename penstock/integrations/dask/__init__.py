"""Beam pipelines on dask.distributed (``--runner=DaskRunner``): penstock's translation of Beam's
primitives (``runner``) and the LocalCluster a process shares (``cluster``). Needs the ``dask``
extra; see docs/dask.md."""
