"""A Beam plugin (``--beam_plugins``) for worker processes on this machine: makes the user module
files the launching process loaded importable under the names it gave them
(``penstock_user_<file>``, see ``penstock.runtime.user_code.load_module_file``), so user
functions pickled by reference unpickle. Importing this module installs the finder; the
mapping comes from the environment the workers inherit."""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
from typing import Any

from penstock.runtime.user_code import USER_MODULES_ENV


class UserModuleFinder(importlib.abc.MetaPathFinder):
    def __init__(self, modules: dict[str, str]) -> None:
        self.modules = modules

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        file = self.modules.get(fullname)
        if file is None or not os.path.isfile(file):
            return None
        directory = os.path.dirname(file)
        if directory not in sys.path:  # its sibling helper modules import as in the launching process
            sys.path.insert(0, directory)
        return importlib.util.spec_from_file_location(fullname, file)


def install() -> None:
    modules = json.loads(os.environ.get(USER_MODULES_ENV) or "{}")
    if modules and not any(isinstance(f, UserModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(UserModuleFinder(modules))


install()
