"""The dask.distributed LocalCluster that ``--runner=DaskRunner`` uses when no scheduler is given,
shared by every Beam pipeline of the process.

Starting a cluster and importing TensorFlow in its workers costs ~10 s; a pipeline run has
several Beam components (ExampleGen, StatisticsGen, Transform, Evaluator), so each starting its
own cluster would pay that several times. One cluster per worker count is kept for the life of
the process and closed at exit; a cluster whose workers died is discarded, so the next run gets
fresh workers.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

_LOCK = threading.Lock()
_CLUSTERS: dict[int, Any] = {}


def shared_local_cluster(n_workers: int | None) -> Any:
    """The process's LocalCluster with ``n_workers`` single-threaded worker processes (default:
    one per core), started on first use."""
    import dask
    from distributed import LocalCluster

    n_workers = n_workers or os.cpu_count() or 1
    with _LOCK:
        cluster = _CLUSTERS.get(n_workers)
        if cluster is not None and cluster.status.name == "running":
            return cluster
        # Dask sets MALLOC_TRIM_THRESHOLD_ in its workers, which also turns off glibc's adaptive
        # mmap threshold: every large numpy temporary is then a fresh mmap, and our column-wise
        # encoding ran 1.3x slower (1M rows: 9.2 s vs 6.9 s for ExampleGen).
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.WARNING,
                # Workers reach the same object stores as this process (TensorFlow's s3:// included).
                preload=["penstock.storage.worker"],
            )
        if not _CLUSTERS:
            atexit.register(close_shared_local_clusters)
        _CLUSTERS[n_workers] = cluster
        return cluster


def discard(cluster: Any) -> None:
    """Closes ``cluster`` and forgets it (its workers died: the next run starts a new one)."""
    with _LOCK:
        for size, known in list(_CLUSTERS.items()):
            if known is cluster:
                del _CLUSTERS[size]
    cluster.close()


def close_shared_local_clusters() -> None:
    """Closes every cluster started here (at exit, or when a caller wants its cores back)."""
    with _LOCK:
        clusters = list(_CLUSTERS.values())
        _CLUSTERS.clear()
    # At exit too, the workers' goodbyes are noise, and so is a loaded machine's "worker process
    # still alive after 4.0 seconds, killing": the cluster is penstock's to stop.
    with quiet_distributed_logs(logging.ERROR):
        for cluster in clusters:
            cluster.close()


@contextlib.contextmanager
def quiet_distributed_logs(threshold: int = logging.WARNING) -> Iterator[None]:
    """dask.distributed's INFO lines (cluster start, task retries, worker goodbyes) would drown a
    run's output, and the CLI may have logging set up to show INFO: only ``threshold`` and above
    get through."""
    distributed_log = logging.getLogger("distributed")
    level = distributed_log.level
    distributed_log.setLevel(max(level, threshold))
    try:
        yield
    finally:
        distributed_log.setLevel(level)
