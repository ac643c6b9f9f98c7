"""Module attributes loaded on first use, for the ``penstock.tfx`` packages: importing them
imports nothing heavy, and each name imports its module when read."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, names: dict[str, tuple[str, str]], submodules: tuple[str, ...] = ()
                    ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``names`` maps an attribute to (module,
    name in it); ``submodules`` are the package's own modules."""
    module = importlib.import_module(package)

    def __getattr__(name: str) -> Any:
        if name in names:
            source, attribute = names[name]
            value = getattr(importlib.import_module(source), attribute)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted([*vars(module), *names, *submodules])

    return __getattr__, __dir__
