"""Penstock's exception classes: every user mistake surfaces as one of these, with a message
that names the file, component, input or field at fault and what was expected."""

from __future__ import annotations


class PenstockError(Exception):
    """Base class for every error penstock raises on purpose."""


class PipelineDefinitionError(PenstockError):
    """The pipeline is wired wrongly: found when it is declared, before anything runs."""


class PipelineFileError(PenstockError):
    """A pipeline file is missing, fails to import, or exposes no pipeline."""


class UserCodeError(PenstockError):
    """User code (a module file, preprocessing_fn, run_fn, function component) is at fault."""


class ExecutionError(PenstockError):
    """A component's executor failed at run time."""

    def __init__(self, component_id: str, message: str) -> None:
        super().__init__(f"{component_id}: {message}")
        self.component_id = component_id
        self._message = message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Pickled as its two arguments (it travels from worker processes): args holds one string.
        return type(self), (self.component_id, self._message)


class RetryableError(PenstockError):
    """Raised by user code (a function component, a run_fn) for a failure that another attempt
    may not meet: an outage of a service it calls. Retried under the component's RetryPolicy."""


class InputDataError(PenstockError):
    """Input data (a CSV, a schema file, examples) is malformed."""


class ValidationGateError(PenstockError):
    """Data validation found anomalies and the gate is set to stop the pipeline."""


class MetadataError(PenstockError):
    """The ML Metadata store cannot be opened or holds something unexpected."""


class NotFoundError(PenstockError):
    """A run, artifact or execution asked for does not exist."""


class StorageError(PenstockError):
    """A file or object store cannot be reached, or a component cannot use the URIs it was given."""
