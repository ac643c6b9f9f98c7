"""Finds the pipeline a user's pipeline file exposes."""

from __future__ import annotations

import os
import sys
import threading

from penstock.dsl.pipeline import Pipeline
from penstock.errors import PipelineFileError, UserCodeError
from penstock.runtime.user_code import describe_user_exception, load_module_file


class _Captured(BaseException):
    """Raised by a runner's ``run`` inside :func:`capture_main_pipeline`: the script stops there."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__("pipeline captured")
        self.pipeline = pipeline


_capturing = threading.local()


def offer_pipeline(pipeline: Pipeline) -> None:
    """Called by TFX-style runners (``LocalDagRunner().run(p)``) before running ``p``: when a
    pipeline file is being loaded as a script (``penstock run``, ``run-node``), the pipeline is
    handed to penstock instead and the script stops."""
    if getattr(_capturing, "active", False):
        raise _Captured(pipeline)


def capture_main_pipeline(path: str, argv: list[str] | None = None) -> Pipeline | None:
    """Run ``path`` as ``__main__`` (TFX's way: the pipeline is built and run under
    ``if __name__ == "__main__"``) and return the pipeline it hands to a runner, or None."""
    import runpy

    saved_argv = sys.argv
    sys.argv = [path, *(argv or [])]  # absl flags parse the script's argv, not penstock's
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:  # as `python path` would: sibling modules import
        sys.path.insert(0, directory)
    _capturing.active = True
    try:
        runpy.run_path(path, run_name="__main__")
    except _Captured as captured:
        return captured.pipeline
    except SystemExit as e:
        raise PipelineFileError(f"{path} exited ({e.code}) before handing a pipeline to a runner") from None
    except Exception as e:
        raise PipelineFileError(f"running {path} failed: {describe_user_exception(e)}") from e
    finally:
        _capturing.active = False
        sys.argv = saved_argv
    return None


def runs_as_script(path: str) -> bool:
    """True for a file written the TFX way: it builds and runs its pipeline under ``if __name__
    == "__main__"`` and exposes neither a module-level ``pipeline`` nor a ``create_pipeline``
    callable without arguments. Decided from the source: such a file must run once, as a script
    (importing it first would run its module code, absl flag definitions included, twice)."""
    import ast

    with open(path, encoding="utf-8", errors="replace") as f:
        try:
            tree = ast.parse(f.read(), path)
        except SyntaxError:
            return False  # importing it reports the error with its line
    has_main = any(isinstance(n, ast.If) and "__main__" in ast.unparse(n.test) for n in tree.body)
    if not has_main:
        return False
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "pipeline" for t in targets):
                return False
        if isinstance(node, ast.FunctionDef) and node.name == "create_pipeline":
            required = len(node.args.args) - len(node.args.defaults)
            required += sum(1 for d in node.args.kw_defaults if d is None)
            if required == 0:
                return False
    return True


def load_pipeline(path: str) -> Pipeline:
    """Import ``path`` and return its pipeline: a module-level ``pipeline``, a ``create_pipeline()``
    function, or the only Pipeline instance at module level; failing those, a file written the
    TFX way (building the pipeline under ``if __name__ == "__main__"`` and handing it to
    ``LocalDagRunner().run``) is run as a script and the pipeline it hands over is taken."""
    if not os.path.exists(path):
        raise PipelineFileError(f"pipeline file {path} does not exist")
    if not path.endswith(".py"):
        raise PipelineFileError(f"pipeline file {path} must be a Python file (.py)")
    if runs_as_script(path):
        captured = capture_main_pipeline(path)
        if captured is None:
            raise PipelineFileError(
                f"{path} ran as a script but handed no pipeline to a runner (e.g. LocalDagRunner().run(pipeline))"
            )
        return captured
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
