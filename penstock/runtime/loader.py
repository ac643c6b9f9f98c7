"""Finds the pipeline a user's pipeline file exposes."""

from __future__ import annotations

import os

from penstock.dsl.pipeline import Pipeline
from penstock.errors import PipelineFileError, UserCodeError
from penstock.runtime.user_code import load_module_file


def load_pipeline(path: str) -> Pipeline:
    """Import ``path`` and return its pipeline: a module-level ``pipeline``, a ``create_pipeline()``
    function, or the only Pipeline instance at module level."""
    if not os.path.exists(path):
        raise PipelineFileError(f"pipeline file {path} does not exist")
    if not path.endswith(".py"):
        raise PipelineFileError(f"pipeline file {path} must be a Python file (.py)")
    try:
        module = load_module_file(path)
    except UserCodeError as e:
        raise PipelineFileError(str(e)) from None
    candidate = getattr(module, "pipeline", None)
    if isinstance(candidate, Pipeline):
        return candidate
    factory = getattr(module, "create_pipeline", None)
    if callable(factory):
        result = factory()
        if not isinstance(result, Pipeline):
            raise PipelineFileError(f"{path}: create_pipeline() returned {type(result).__name__}, not a Pipeline")
        return result
    found = [v for v in vars(module).values() if isinstance(v, Pipeline)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise PipelineFileError(f"{path} defines several pipelines ({names}); name the one to run `pipeline`")
    raise PipelineFileError(
        f"{path} exposes no pipeline: define a module-level `pipeline = Pipeline(...)` or `create_pipeline()`"
    )
