"""``tfx.dsl.components``: the function-component decorator and its annotations."""

from penstock.dsl.parameter import Parameter
from penstock.tfx._dsl import (
    AsyncOutputArtifact,
    BeamComponentParameter,
    InputArtifact,
    OutputArtifact,
    OutputDict,
    component,
)

__all__ = ["AsyncOutputArtifact", "BeamComponentParameter", "InputArtifact", "OutputArtifact", "OutputDict",
           "Parameter", "component"]
