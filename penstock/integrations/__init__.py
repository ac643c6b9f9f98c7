"""Optional integrations, each imported only when its name is used (``--runner=DaskRunner``
loads ``dask``)."""
