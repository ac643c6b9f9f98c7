"""Nodes: anything placed in a pipeline (a component or a resolver), with its id, input
channels, output channels and the cache and retry policies the runtime applies to it."""

from __future__ import annotations

import re
from typing import Any

from penstock.dsl import conditional
from penstock.dsl.cache_policy import CachePolicy
from penstock.dsl.channel import Channel, OutputChannels
from penstock.dsl.retry import RetryPolicy
from penstock.errors import PipelineDefinitionError

_ID_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")


def check_id(id: str) -> None:
    if not isinstance(id, str) or not _ID_PATTERN.match(id):
        raise PipelineDefinitionError(
            f"component id {id!r} is invalid: use letters, digits, '_', '-' or '.', starting with a letter"
        )


class Node:
    """Anything placed in a pipeline: a component or a resolver."""

    def __init__(
        self,
        id: str,
        inputs: dict[str, Channel],
        output_types: dict[str, type[Any]],
        *,
        cache_policy: CachePolicy | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        check_id(id)
        self.id = id
        self.inputs = inputs
        self.parameters: dict[str, Any] = {}
        self.cache_policy = cache_policy or CachePolicy()
        self.retry_policy = retry_policy or RetryPolicy()
        self.upstream_extra: list[Node] = []
        self.outputs = OutputChannels({key: Channel(kind, self, key) for key, kind in output_types.items()}, id)
        # Inside ``with Cond(...)``: the node runs only if every predicate holds (penstock.dsl.conditional).
        self.conditions = conditional.active_predicates()
        self.inputs.update(conditional.condition_inputs(self.conditions))

    @property
    def type_name(self) -> str:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}"

    def upstream_nodes(self) -> list[Node]:
        seen: dict[int, Node] = {}
        for channel in self.inputs.values():
            if channel.producer is not None:
                seen.setdefault(id(channel.producer), channel.producer)
        for node in self.upstream_extra:
            seen.setdefault(id(node), node)
        return list(seen.values())

    def add_upstream(self, node: Node) -> Node:
        """Run after ``node`` even though no artifact flows between them (TFX's add_upstream_node)."""
        if node is self:
            raise PipelineDefinitionError(f"{self.id}: a component cannot depend on itself")
        self.upstream_extra.append(node)
        return self

    def with_id(self, id: str) -> Node:
        check_id(id)
        self.id = id
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r}>"
