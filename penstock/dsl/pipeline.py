"""Pipeline: a named DAG of components, validated as a whole when declared."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from penstock import settings
from penstock.dsl.component import Node
from penstock.errors import PipelineDefinitionError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class Pipeline:
    """A DAG of components.

    Every component whose output another consumes must be listed; ids must be unique; the graph
    must be acyclic. Defaults keep everything under ``PENSTOCK_HOME`` (``./.penstock``): SQLite
    metadata and the pipeline root. ``beam_pipeline_args`` apply to every Beam-based component
    unless a component overrides them.
    """

    def __init__(
        self,
        name: str,
        components: Sequence[Node],
        *,
        pipeline_root: str | None = None,
        metadata: Any = None,
        beam_pipeline_args: Sequence[str] | None = None,
        enable_cache: bool = True,
        max_parallelism: int | None = None,
        schedule: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise PipelineDefinitionError(
                f"pipeline name {name!r} is invalid: use letters, digits, '_', '-' or '.'"
            )
        self.name = name
        self.components: list[Node] = list(components)
        self.pipeline_root = pipeline_root or settings.default_pipeline_root(name)
        # Where the run is recorded, as declared: a path or URL, or a penstock.sqlite()/mysql()
        # config. The runtime reads it (penstock.metadata.connection.parse); declaring needs no store.
        self.metadata: Any = metadata if metadata is not None else settings.default_metadata_path()
        self.beam_pipeline_args = list(beam_pipeline_args or [])
        self.enable_cache = enable_cache
        self.max_parallelism = max_parallelism
        self.schedule = schedule
        self.order = self._validate()

    def node(self, id: str) -> Node:
        for node in self.components:
            if node.id == id:
                return node
        raise PipelineDefinitionError(
            f"pipeline {self.name!r} has no component {id!r}; components: {', '.join(n.id for n in self.components)}"
        )

    def _validate(self) -> list[Node]:
        by_id: dict[str, Node] = {}
        for node in self.components:
            if not isinstance(node, Node):
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r}: {node!r} is not a component (did you forget to call it?)"
                )
            if node.id in by_id:
                raise PipelineDefinitionError(
                    f"pipeline {self.name!r}: duplicate component id {node.id!r}; give one of them "
                    f"another id with .with_id('...')"
                )
            by_id[node.id] = node
        members = {id(n) for n in self.components}
        for node in self.components:
            for key, channel in node.inputs.items():
                producer = channel.producer
                if producer is not None and id(producer) not in members:
                    raise PipelineDefinitionError(
                        f"pipeline {self.name!r}: {node.id} input {key!r} comes from {producer.id}, "
                        f"which is not in the pipeline's components"
                    )
            for upstream in node.upstream_extra:
                if id(upstream) not in members:
                    raise PipelineDefinitionError(
                        f"pipeline {self.name!r}: {node.id} depends on {upstream.id}, which is not in the pipeline"
                    )
        return _topological_order(self.name, self.components)

    def downstream_of(self, node_id: str) -> set[str]:
        """Ids of every node that depends, directly or not, on ``node_id``."""
        result: set[str] = set()
        frontier = [node_id]
        while frontier:
            current = frontier.pop()
            for node in self.components:
                if node.id not in result and any(u.id == current for u in node.upstream_nodes()):
                    result.add(node.id)
                    frontier.append(node.id)
        return result

    def upstream_of(self, node_id: str) -> set[str]:
        result: set[str] = set()
        frontier = [self.node(node_id)]
        while frontier:
            for upstream in frontier.pop().upstream_nodes():
                if upstream.id not in result:
                    result.add(upstream.id)
                    frontier.append(upstream)
        return result

    def edges(self) -> dict[str, list[str]]:
        """Each component's upstream component ids, in execution order."""
        return {n.id: [u.id for u in n.upstream_nodes()] for n in self.order}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "components": [
                {"id": n.id, "type": n.type_name, "upstream": [u.id for u in n.upstream_nodes()]}
                for n in self.order
            ],
        }


def _topological_order(pipeline_name: str, nodes: list[Node]) -> list[Node]:
    """Kahn's algorithm, keeping declaration order among ready nodes; names a cycle if found."""
    remaining = {n.id: {u.id for u in n.upstream_nodes()} for n in nodes}
    by_id = {n.id: n for n in nodes}
    order: list[Node] = []
    while remaining:
        ready = [nid for nid in by_id if nid in remaining and not remaining[nid]]
        if not ready:
            raise PipelineDefinitionError(
                f"pipeline {pipeline_name!r} has a cycle: {' -> '.join(_find_cycle(remaining))}"
            )
        for nid in ready:
            order.append(by_id[nid])
            del remaining[nid]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    start = next(iter(graph))
    path = [start]
    seen = {start: 0}
    current = start
    while True:
        current = sorted(graph[current])[0]
        if current in seen:
            # The walk follows "depends on" edges; reversed, it reads in the direction data flows.
            return list(reversed(path[seen[current]:] + [current]))
        seen[current] = len(path)
        path.append(current)
