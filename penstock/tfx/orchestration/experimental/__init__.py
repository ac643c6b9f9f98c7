"""``tfx.orchestration.experimental``: the Kubeflow V2 runner (penstock's KFP spec)."""

from penstock.tfx._runners import KubeflowV2DagRunner, KubeflowV2DagRunnerConfig

__all__ = ["KubeflowV2DagRunner", "KubeflowV2DagRunnerConfig"]
