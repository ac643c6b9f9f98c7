"""User-code fingerprints follow imports through the user's own modules, and only those."""

from __future__ import annotations

import pytest

from penstock.errors import UserCodeError
from penstock.runtime.user_code import describe_user_exception, fingerprint_files, load_callable, load_module_file


def _project(tmp_path):
    pkg = tmp_path / "features"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "scaling.py").write_text("from .constants import FACTOR\n\ndef scale(x):\n    return x * FACTOR\n")
    (pkg / "constants.py").write_text("FACTOR = 2\n")
    (tmp_path / "module.py").write_text(
        "import json\nimport numpy\nfrom features.scaling import scale\n\ndef preprocessing_fn(inputs):\n    return scale(inputs)\n"
    )
    return tmp_path / "module.py"


def test_fingerprint_follows_user_imports_transitively(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = _project(tmp_path)
    prints = fingerprint_files([str(module)])
    assert set(prints) == {"module.py", "features/scaling.py", "features/constants.py", "features/__init__.py"}
    (tmp_path / "features" / "constants.py").write_text("FACTOR = 3\n")
    changed = fingerprint_files([str(module)])
    assert changed["features/constants.py"] != prints["features/constants.py"]
    assert changed["module.py"] == prints["module.py"]


def test_loading_user_code_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def run_fn(args):\n    return (\n")
    with pytest.raises(UserCodeError, match=r"bad.py, line \d+: syntax error"):
        load_module_file(str(bad))
    good = tmp_path / "good.py"
    good.write_text("def boom():\n    raise KeyError('missing feature')\n")
    module = load_module_file(str(good))
    with pytest.raises(UserCodeError, match="has no callable 'run_fn'"):
        load_callable(f"{good}:run_fn")
    try:
        module.boom()
    except KeyError as e:
        assert describe_user_exception(e) == f"{good}:2 in boom: KeyError: 'missing feature'"


def test_functions_of_a_module_file_unpickle_where_the_file_is_unknown(tmp_path):
    """A distributed runner's workers (Dask) cannot import a module loaded from a file under a
    synthetic name: its functions must travel by value."""
    import subprocess
    import sys

    import cloudpickle

    user_dir = tmp_path / "user"
    user_dir.mkdir()
    (user_dir / "shipped_utils.py").write_text("SCALE = 3\n\ndef scale(x):\n    return x * SCALE\n")
    fn = load_callable(str(user_dir / "shipped_utils.py") + ":scale")
    payload = tmp_path / "fn.pkl"
    payload.write_bytes(cloudpickle.dumps(fn))
    out = subprocess.run(
        [sys.executable, "-c", f"import pickle; print(pickle.load(open({str(payload)!r}, 'rb'))(14))"],
        capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "42"


def test_every_spelling_of_a_reference_reads_the_same_way(tmp_path, monkeypatch):
    """One parser: a file with or without ':function', a module with '.function' or ':function';
    the cache key's source lookup and the loader agree on each."""
    from penstock.runtime.user_code import load_callable, source_file_of_ref, split_ref

    (tmp_path / "prep.py").write_text("def fn(x):\n    return x + 1\n")
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("def fn(x):\n    return x * 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    file_ref = str(tmp_path / "prep.py")
    assert split_ref(file_ref) == (file_ref, "")
    assert split_ref(f"{file_ref}:fn") == (file_ref, "fn")
    assert split_ref("pkg.mod.fn") == ("pkg.mod", "fn") and split_ref("pkg.mod:fn") == ("pkg.mod", "fn")
    assert source_file_of_ref(f"{file_ref}:fn") == file_ref  # was the whole string: the cache key failed
    assert source_file_of_ref("pkg.mod.fn") == source_file_of_ref("pkg.mod:fn") == str(package / "mod.py")
    assert load_callable(f"{file_ref}:fn")(1) == 2
    assert load_callable("pkg.mod.fn")(3) == load_callable("pkg.mod:fn")(3) == 6
    with pytest.raises(UserCodeError, match="must name a function"):
        load_callable(file_ref)
