"""Channels: the typed edges of a pipeline, carrying one component's output to another's input."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from penstock.dsl.artifact import Artifact

if TYPE_CHECKING:
    from penstock.dsl.conditional import Placeholder


class Channel:
    """A typed stream of artifacts.

    Bound channels come from ``component.outputs[key]``; an unbound ``Channel(Model)`` stands
    for "artifacts of this type in ML Metadata" and is only meaningful as a Resolver input.
    """

    def __init__(
        self, type: type[Artifact], producer: Any = None, output_key: str | None = None
    ) -> None:
        if not (isinstance(type, builtins.type) and issubclass(type, Artifact)):
            raise TypeError(f"Channel type must be an Artifact subclass, got {type!r}")
        self.type = type
        self.producer = producer  # the penstock.dsl.node.Node making it (not imported: it imports this)
        self.output_key = output_key

    def future(self) -> Placeholder:
        """The artifacts this channel holds in a run, for a run-time condition (``Cond``)."""
        from penstock.dsl.conditional import Placeholder

        return Placeholder(self)

    def describe(self) -> str:
        if self.producer is None:
            return f"Channel({self.type.__name__})"
        return f"{self.producer.id}.outputs[{self.output_key!r}] ({self.type.__name__})"

    def __repr__(self) -> str:
        return self.describe()


class OutputChannels(Mapping[str, Channel]):
    """``component.outputs``: indexable by key and by attribute."""

    def __init__(self, channels: dict[str, Channel], owner: str) -> None:
        self._channels = channels
        self._owner = owner

    def __getitem__(self, key: str) -> Channel:
        try:
            return self._channels[key]
        except KeyError:
            raise KeyError(
                f"{self._owner} has no output {key!r}; outputs: {', '.join(self._channels) or '(none)'}"
            ) from None

    def __getattr__(self, key: str) -> Channel:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(str(e)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)
