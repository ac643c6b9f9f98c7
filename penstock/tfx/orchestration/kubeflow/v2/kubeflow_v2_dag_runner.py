"""``tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner``."""

from penstock.tfx._runners import KubeflowV2DagRunner, KubeflowV2DagRunnerConfig

__all__ = ["KubeflowV2DagRunner", "KubeflowV2DagRunnerConfig"]
