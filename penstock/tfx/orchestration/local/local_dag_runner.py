"""``tfx.orchestration.local.local_dag_runner``."""

from penstock.tfx._runners import LocalDagRunner

__all__ = ["LocalDagRunner"]
