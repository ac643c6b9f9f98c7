"""``tfx.dsl.component.experimental.annotations``."""

from penstock.dsl.parameter import Parameter
from penstock.tfx._dsl import AsyncOutputArtifact, BeamComponentParameter, InputArtifact, OutputArtifact, OutputDict

__all__ = ["AsyncOutputArtifact", "BeamComponentParameter", "InputArtifact", "OutputArtifact", "OutputDict",
           "Parameter"]
