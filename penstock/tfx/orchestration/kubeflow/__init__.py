"""``tfx.orchestration.kubeflow``."""
