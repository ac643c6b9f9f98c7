"""Loading and fingerprinting user code.

The cache key of a component that runs user code covers the source of the module it names AND
every user module that module imports, transitively: editing a helper imported by a
``preprocessing_fn`` invalidates Transform. "User module" means a source file outside the
Python installation, site-packages and penstock itself; imports are found by reading the source
(``ast``), never by executing it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import sysconfig
import threading
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

from penstock.errors import UserCodeError

_lock = threading.Lock()
_file_memo: dict[tuple[str, int, int], tuple[str, list[str]]] = {}
_loaded_files: dict[str, tuple[int, ModuleType]] = {}


def _system_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # penstock itself
    return tuple(os.path.realpath(r) + os.sep for r in roots)


_SYSTEM_ROOTS = _system_roots()


def is_user_file(path: str) -> bool:
    if not os.path.isabs(path):  # compiled library frames carry relative paths (apache_beam/...)
        return False
    real = os.path.realpath(path)
    return real.endswith(".py") and not real.startswith(_SYSTEM_ROOTS) and "site-packages" not in real


def _find_module_file(name: str, search_paths: list[str]) -> str | None:
    """Locate the source of ``name`` without importing it."""
    parts = name.split(".")
    try:
        spec = importlib.machinery.PathFinder.find_spec(parts[0], search_paths)
        for part in parts[1:]:
            if spec is None or not spec.submodule_search_locations:
                return None
            spec = importlib.machinery.PathFinder.find_spec(part, list(spec.submodule_search_locations))
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    return spec.origin


def _package_of(path: str) -> tuple[str, str]:
    """(package name, sys.path root) of a file, walking up through __init__.py files."""
    directory = os.path.dirname(path)
    parts: list[str] = []
    while os.path.exists(os.path.join(directory, "__init__.py")):
        parts.insert(0, os.path.basename(directory))
        directory = os.path.dirname(directory)
    return ".".join(parts), directory


def _imports_of(path: str, source: bytes) -> list[str]:
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        raise UserCodeError(f"{path}, line {e.lineno}: syntax error: {e.msg}") from None
    package, root = _package_of(path)
    search = [os.path.dirname(path), root, *sys.path]
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg_parts = package.split(".") if package else []
                if node.level > 1:
                    pkg_parts = pkg_parts[: len(pkg_parts) - node.level + 1]
                base = ".".join([*pkg_parts, base] if base else pkg_parts)
            names = [base] if base else []
            names += [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py too.
        prefixes = {".".join(n.split(".")[: i + 1]) for n in names for i in range(n.count(".") + 1)}
        for name in sorted(prefixes):
            origin = _find_module_file(name, search)
            if origin and is_user_file(origin):
                found.append(os.path.realpath(origin))
    return found


def _scan(path: str) -> tuple[str, list[str]]:
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    with _lock:
        hit = _file_memo.get(key)
    if hit is not None:
        return hit
    with open(path, "rb") as f:
        source = f.read()
    result = (hashlib.sha256(source).hexdigest(), _imports_of(path, source))
    with _lock:
        _file_memo[key] = result
    return result


def fingerprint_files(roots: list[str]) -> dict[str, str]:
    """sha256 of each root file and every user module it imports, transitively.

    Keys are paths relative to the current directory when below it, so a project checked out
    elsewhere keeps its cache keys.
    """
    result: dict[str, str] = {}
    pending = [os.path.realpath(r) for r in roots]
    seen: set[str] = set()
    cwd = os.path.realpath(os.getcwd()) + os.sep
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        if not os.path.exists(path):
            raise UserCodeError(f"user module file {path} does not exist")
        digest, imports = _scan(path)
        shown = path[len(cwd):] if path.startswith(cwd) else path
        result[shown] = digest
        pending.extend(imports)
    return result


def split_ref(ref: str) -> tuple[str, str]:
    """The one reading of a user-code reference: (where, attribute). ``path/to/file.py``,
    ``path/to/file.py:function``, ``package.module:function`` or ``package.module.function``;
    ``where`` is a file path (ends in ``.py`` or holds a separator) or a dotted module name, and
    the attribute is empty when the reference names a whole file."""
    if ":" in ref:
        where, _, attribute = ref.partition(":")
        return where, attribute
    if ref.endswith(".py") or os.sep in ref:
        return ref, ""
    where, _, attribute = ref.rpartition(".")
    return where, attribute


def _is_file_ref(where: str) -> bool:
    return where.endswith(".py") or os.sep in where


def source_file_of_ref(ref: str) -> str:
    """The file behind a user-code reference (see :func:`split_ref`)."""
    where, attribute = split_ref(ref)
    if _is_file_ref(where):
        return where
    parts = [*where.split("."), attribute] if attribute and ":" not in ref else where.split(".")
    for cut in range(len(parts), 0, -1):
        origin = _find_module_file(".".join(parts[:cut]), [os.getcwd(), *sys.path])
        if origin:
            return origin
    raise UserCodeError(f"cannot find the module of {ref!r} on sys.path ({os.getcwd()} included)")


def load_module_file(path: str) -> ModuleType:
    """Import a user module file, naming it after the file; its directory joins sys.path so
    sibling helper modules import as they would when run directly."""
    path = os.path.realpath(path)
    if not os.path.isfile(path):
        raise UserCodeError(f"module file {path} does not exist")
    mtime = os.stat(path).st_mtime_ns
    with _lock:
        cached = _loaded_files.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        directory = os.path.dirname(path)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        name = "penstock_user_" + os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UserCodeError(f"{path} is not an importable Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as e:
            sys.modules.pop(name, None)
            raise UserCodeError(f"{e.filename or path}, line {e.lineno}: syntax error: {e.msg}") from None
        except Exception as e:
            sys.modules.pop(name, None)
            raise UserCodeError(f"importing {path} failed: {describe_user_exception(e)}") from e
        _pickle_by_value(module)
        _export_for_workers(name, path)
        _loaded_files[path] = (mtime, module)
        return module


USER_MODULES_ENV = "PENSTOCK_USER_MODULES"


def _export_for_workers(name: str, path: str) -> None:
    """Name the file behind a synthetic module name in the environment, which Beam's worker
    processes on this machine inherit: ``penstock.runtime.worker_user_modules`` (a Beam plugin)
    imports it there under the same name, so functions pickled by reference (Beam's default
    pickler, dill) unpickle (``--direct_running_mode=multi_processing``)."""
    import json

    known = json.loads(os.environ.get(USER_MODULES_ENV) or "{}")
    if known.get(name) != path:
        known[name] = path
        os.environ[USER_MODULES_ENV] = json.dumps(known)


def _pickle_by_value(module: ModuleType) -> None:
    """Workers of a distributed runner (Dask, a Beam worker pool) cannot import a module loaded
    from a file under a synthetic name: cloudpickle must carry its functions by value."""
    try:
        import cloudpickle
    except ImportError:  # no distributed runner installed: nothing will pickle user code
        return
    cloudpickle.register_pickle_by_value(module)


def load_callable(ref: str, what: str = "function") -> Callable[..., Any]:
    """Resolve a reference to a function (see :func:`split_ref`)."""
    where, attribute = split_ref(ref)
    if not where or not attribute:
        raise UserCodeError(f"{what} {ref!r} must name a function: 'package.module.function' or 'file.py:function'")
    module = load_module_file(where) if _is_file_ref(where) else _import(where, what)
    fn = getattr(module, attribute, None)
    if fn is None or not callable(fn):
        raise UserCodeError(f"{what}: module {where!r} has no callable {attribute!r}")
    return fn


def _import(name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except SyntaxError as e:
        raise UserCodeError(f"{what}: {e.filename}, line {e.lineno}: syntax error: {e.msg}") from None
    except ImportError as e:
        raise UserCodeError(f"{what}: cannot import {name!r}: {e}") from None


def describe_user_exception(error: BaseException) -> str:
    """``file:line in function: Type: message`` of the innermost frame in user code."""
    remote = getattr(error, "__penstock_description__", None)
    if remote is not None:  # raised in a worker process, and described there, where its frames are
        return str(remote)
    frames = traceback.extract_tb(error.__traceback__)
    user_frames = [f for f in frames if is_user_file(f.filename)]
    where = ""
    if user_frames:
        f = user_frames[-1]
        where = f"{f.filename}:{f.lineno} in {f.name}: "
    return f"{where}{type(error).__name__}: {error}"
