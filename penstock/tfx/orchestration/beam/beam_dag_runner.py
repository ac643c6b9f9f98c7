"""``tfx.orchestration.beam.beam_dag_runner``: TFX's older local runner (penstock's LocalRunner)."""

from penstock.tfx._runners import BeamDagRunner

__all__ = ["BeamDagRunner"]
