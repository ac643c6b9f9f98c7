"""The one interpreter of parameter type hints: which hints a parameter may have, and whether a
value fits one (so a mistyped parameter fails at declaration)."""

from __future__ import annotations

import types
import typing
from typing import Any


def matches(value: Any, hint: Any) -> bool:
    """True when ``value`` is an instance of ``hint`` (int, float, str, bool, list[...], dict[...],
    Optional/Union, Literal, Any). ints are accepted where floats are expected; bools are not ints."""
    if hint is Any or hint is object:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is None or hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(hint)
        if not args:
            return True
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return len(args) == len(value) and all(matches(v, a) for v, a in zip(value, args))
        return all(matches(v, args[0]) for v in value)
    if origin in (dict, typing.Mapping):
        if not isinstance(value, dict):
            return False
        args = typing.get_args(hint)
        if not args:
            return True
        return all(matches(k, args[0]) and matches(v, args[1]) for k, v in value.items())
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def describe(hint: Any) -> str:
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__name__
    return str(hint).replace("typing.", "")


_PRIMITIVES = (int, float, str, bool, list, dict)


def is_parameter_type(hint: Any) -> bool:
    """True for the hints a parameter may have: int, float, str, bool, list[...], dict[...],
    Literal[...], and unions of them with None (``Optional[int]`` or ``int | None``)."""
    origin = typing.get_origin(hint) or hint
    if origin in (typing.Union, types.UnionType):
        return all(is_parameter_type(a) for a in typing.get_args(hint) if a is not type(None))
    return origin in _PRIMITIVES or origin is typing.Literal
