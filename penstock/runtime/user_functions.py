"""Finding the user function a component runs (``preprocessing_fn``, ``run_fn``) and naming it.

Components that run user code take either ``module_file`` (a ``.py`` file that must define a
function of a fixed name) or a reference (``package.module.function`` / ``file.py:function``).
Errors must point at the user's file, function and line, so the function is returned together
with a description such as ``preprocessing_fn (examples/penguin/penguin_utils.py:41)``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from penstock.errors import PipelineDefinitionError, UserCodeError
from penstock.runtime.user_code import load_callable, load_module_file


def require_one_source(component_id: str, parameters: dict[str, Any], function_param: str) -> None:
    """Declaration check: exactly one of ``module_file`` or ``<function_param>`` is given."""
    given = [k for k in ("module_file", function_param) if parameters.get(k)]
    if len(given) != 1:
        raise PipelineDefinitionError(
            f"{component_id}: give exactly one of module_file (a file defining {function_param}) "
            f"or {function_param} ('package.module.function'); got {given or 'neither'}"
        )


def describe_function(fn: Callable[..., Any]) -> str:
    """``name (file:line)`` of a function, the file relative to the working directory if below it."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
    try:
        path = inspect.getsourcefile(fn) or "?"
        line = inspect.getsourcelines(fn)[1]
    except (TypeError, OSError):
        return str(name)
    cwd = os.path.realpath(os.getcwd()) + os.sep
    real = os.path.realpath(path)
    shown = real[len(cwd):] if real.startswith(cwd) else real
    return f"{name} ({shown}:{line})"


def resolve_user_function(
    component_id: str, parameters: dict[str, Any], ref_param: str, default_name: str
) -> tuple[Callable[..., Any], str]:
    """The function named by ``module_file`` (attribute ``default_name``) or by ``ref_param``."""
    module_file = parameters.get("module_file")
    ref = parameters.get(ref_param)
    if module_file:
        try:
            module = load_module_file(module_file)
        except UserCodeError as e:
            raise UserCodeError(f"{component_id}: {e}") from e.__cause__
        fn = getattr(module, default_name, None)
        if fn is None or not callable(fn):
            raise UserCodeError(
                f"{component_id}: module file {module_file} defines no function {default_name!r} "
                f"(it must define `def {default_name}(...)`)"
            )
    elif ref:
        fn = load_callable(ref, what=f"{component_id}: {ref_param}")
    else:
        raise UserCodeError(f"{component_id}: neither module_file nor {ref_param} is set")
    return fn, describe_function(fn)
