"""Conditions on components, decided at run time from artifacts of upstream components.

    with Cond(evaluator.outputs["blessing"].future()[0].custom_property("blessed") == 1):
        pusher = Pusher(...)

``channel.future()`` stands for the artifacts a channel will hold in a run; indexing, reading a
property and comparing build a :class:`Predicate` (nothing is evaluated while declaring). Every
node declared inside the ``with`` block carries the predicate: its channels become hidden inputs
of the node (so the node runs after their producers, and the artifacts are at hand), and the
runtime runs the node only if the predicate holds, else records it as skipped by its condition,
as are the nodes that depend on it. Conditions nest: all must hold.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from penstock.errors import PipelineDefinitionError

if TYPE_CHECKING:
    from penstock.dsl.artifact import Artifact
    from penstock.dsl.channel import Channel

CONDITION_INPUT_PREFIX = "_condition_"

_active = threading.local()


class Placeholder:
    """A value known only at run time, read from the artifacts of one channel."""

    def __init__(self, channel: Channel, path: tuple[tuple[str, Any], ...] = ()) -> None:
        self.channel = channel
        self.path = path

    def _then(self, step: str, arg: Any = None) -> Placeholder:
        return Placeholder(self.channel, (*self.path, (step, arg)))

    def __getitem__(self, index: int) -> Placeholder:
        return self._then("index", index)

    def custom_property(self, name: str) -> Placeholder:
        return self._then("custom_property", name)

    @property
    def uri(self) -> Placeholder:
        return self._then("uri")

    @property
    def value(self) -> Placeholder:
        return self._then("value")

    def property(self, name: str) -> Placeholder:  # after the @property uses above: it shadows the builtin
        return self._then("property", name)

    def describe(self) -> str:
        text = f"{self.channel.describe()}.future()"
        for step, arg in self.path:
            text += f"[{arg}]" if step == "index" else (f".{step}({arg!r})" if arg is not None else f".{step}")
        return text

    def resolve(self, artifacts: list[Artifact]) -> Any:
        """The value for these artifacts (the channel's, in this run)."""
        current: Any = artifacts
        for step, arg in self.path:
            if step == "index":
                current = current[arg] if -len(current) <= arg < len(current) else None
            elif current is None:
                return None
            elif step == "custom_property":
                # TFX keeps e.g. ``blessed`` as a custom property; penstock as a typed property.
                current = current.custom_properties.get(arg, current.properties.get(arg))
            elif step == "property":
                current = current.properties.get(arg, current.custom_properties.get(arg))
            else:
                current = getattr(current, step)
        return current

    def _compare(self, symbol: str, fn: Callable[[Any, Any], bool], other: Any) -> Predicate:
        return Predicate(f"{self.describe()} {symbol} {other!r}", [self.channel],
                         lambda values: _safe(fn, self.resolve(values[0]), other))

    def __eq__(self, other: Any) -> Predicate:  # type: ignore[override]
        return self._compare("==", operator.eq, other)

    def __ne__(self, other: Any) -> Predicate:  # type: ignore[override]
        return self._compare("!=", operator.ne, other)

    def __lt__(self, other: Any) -> Predicate:
        return self._compare("<", operator.lt, other)

    def __le__(self, other: Any) -> Predicate:
        return self._compare("<=", operator.le, other)

    def __gt__(self, other: Any) -> Predicate:
        return self._compare(">", operator.gt, other)

    def __ge__(self, other: Any) -> Predicate:
        return self._compare(">=", operator.ge, other)

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        raise PipelineDefinitionError(
            f"{self.describe()} has no value while the pipeline is declared; compare it explicitly "
            "(e.g. == 1) to make a condition for Cond"
        )


def _safe(fn: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    try:
        return bool(fn(left, right))
    except TypeError:  # a missing value (None) compared with a number: the condition is not met
        return False


class Predicate:
    """A boolean over the artifacts of some channels; combine with ``&``, ``|`` and ``~``."""

    def __init__(self, text: str, channels: list[Channel], fn: Callable[[list[list[Artifact]]], bool]) -> None:
        self.text = text
        self.channels = channels
        self.fn = fn

    def evaluate(self, artifacts: list[list[Artifact]]) -> bool:
        """``artifacts[i]``: what ``self.channels[i]`` holds in this run."""
        return self.fn(artifacts)

    def __and__(self, other: Predicate) -> Predicate:
        n = len(self.channels)
        return Predicate(f"({self.text}) and ({other.text})", [*self.channels, *other.channels],
                         lambda v: self.fn(v[:n]) and other.fn(v[n:]))

    def __or__(self, other: Predicate) -> Predicate:
        n = len(self.channels)
        return Predicate(f"({self.text}) or ({other.text})", [*self.channels, *other.channels],
                         lambda v: self.fn(v[:n]) or other.fn(v[n:]))

    def __invert__(self) -> Predicate:
        return Predicate(f"not ({self.text})", list(self.channels), lambda v: not self.fn(v))

    def __bool__(self) -> bool:
        raise PipelineDefinitionError(f"condition {self.text!r} is decided at run time; use it with Cond(...)")

    def __repr__(self) -> str:
        return f"Predicate({self.text})"


class Cond:
    """``with Cond(predicate):`` — components declared inside run only when it holds."""

    def __init__(self, predicate: Predicate) -> None:
        if not isinstance(predicate, Predicate):
            raise PipelineDefinitionError(
                f"Cond takes a condition such as channel.future()[0].custom_property('blessed') == 1, "
                f"got {predicate!r:.80}"
            )
        self.predicate = predicate

    def __enter__(self) -> Cond:
        stack = getattr(_active, "stack", None)
        if stack is None:
            stack = _active.stack = []
        stack.append(self.predicate)
        return self

    def __exit__(self, *exc: object) -> None:
        _active.stack.pop()


def active_predicates() -> list[Predicate]:
    """The predicates of the ``Cond`` blocks being declared in this thread, outermost first."""
    return list(getattr(_active, "stack", None) or [])


def condition_inputs(predicates: list[Predicate]) -> dict[str, Channel]:
    """The hidden inputs a conditioned node reads its predicates' artifacts from."""
    channels: dict[int, Channel] = {}
    for predicate in predicates:
        for channel in predicate.channels:
            if channel.producer is None:
                raise PipelineDefinitionError(
                    f"condition {predicate.text!r} reads an unbound channel; use a component's output"
                )
            channels.setdefault(id(channel), channel)
    return {f"{CONDITION_INPUT_PREFIX}{i}": channel for i, channel in enumerate(channels.values())}


def unmet_condition(predicates: list[Predicate], node_inputs: dict[str, Channel],
                    inputs: dict[str, list[Artifact]]) -> str | None:
    """The text of the first predicate that does not hold, or None. ``node_inputs`` are the
    node's channels (hidden condition inputs included), ``inputs`` what they hold in this run."""
    keys = {id(channel): key for key, channel in node_inputs.items() if key.startswith(CONDITION_INPUT_PREFIX)}
    for predicate in predicates:
        values = [inputs.get(keys.get(id(c), ""), []) for c in predicate.channels]
        if not predicate.evaluate(values):
            return predicate.text
    return None
