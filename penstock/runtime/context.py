"""What an executor is handed when its component runs."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from penstock.dsl.artifact import Artifact
from penstock.errors import ExecutionError


class Parameters(dict[str, Any]):
    """A component's parameter values, every one its spec declares (defaults filled in when the
    component was declared): executors read ``parameters[name]`` and never restate a default.
    Asking for a name the spec does not declare says so."""

    def __init__(self, component_id: str, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.component_id = component_id

    def __missing__(self, name: str) -> Any:
        raise KeyError(f"{self.component_id} has no parameter {name!r} (declared: {', '.join(sorted(self)) or 'none'})")


@dataclasses.dataclass
class ExecutorContext:
    """Inputs are LIVE artifacts; outputs point at prefixes of this execution's own, recorded
    LIVE once the executor returns (see ``penstock.storage.staging``). ``tmp_dir`` is local
    scratch space; ``temp_uri`` scratch space on the pipeline root, which out-of-process Beam
    workers can reach too. Both are removed after the execution."""

    pipeline_name: str
    run_id: str
    component_id: str
    execution_id: int
    inputs: dict[str, list[Artifact]]
    outputs: dict[str, Artifact]
    parameters: dict[str, Any]
    beam_pipeline_args: list[str]
    tmp_dir: str
    pipeline_root: str
    metadata_config: Any = None
    temp_uri: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.parameters, Parameters):
            self.parameters = Parameters(self.component_id, dict(self.parameters))

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"penstock.component.{self.component_id}")

    def input(self, key: str) -> Artifact:
        """The single artifact of input ``key``; raises if there is none."""
        artifacts = self.inputs.get(key) or []
        if not artifacts:
            raise ExecutionError(self.component_id, f"input {key!r} resolved to no artifact")
        return artifacts[-1]

    def optional_input(self, key: str) -> Artifact | None:
        artifacts = self.inputs.get(key) or []
        return artifacts[-1] if artifacts else None

    def output(self, key: str) -> Artifact:
        return self.outputs[key]
