"""Artifact storage: files by URI on a disk or an object store (``filesystem``), where each
artifact keeps its files (``layout`` and one module per artifact kind), which libraries reach
which stores (``reach``), and how one execution writes and commits its outputs (``staging``)."""
