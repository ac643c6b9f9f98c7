"""``tfx.orchestration.kubeflow.v2``."""
