"""Lineage: walks ML Metadata events from an artifact to what produced it and what consumed it."""

from __future__ import annotations

from typing import Any

from penstock.metadata.store import MetadataStore


class Lineage:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def producers(self, artifact_id: int) -> list[int]:
        """Executions that output the artifact (the original and any CACHED reuses)."""
        return [eid for kind, eid in self.store.artifact_events(artifact_id) if kind == "OUTPUT"]

    def consumers(self, artifact_id: int) -> list[int]:
        return [eid for kind, eid in self.store.artifact_events(artifact_id) if kind in ("INPUT", "DECLARED_INPUT")]

    def upstream(self, artifact_id: int, depth: int = 50) -> set[int]:
        """Ids of every artifact the given one was derived from."""
        return self._walk(artifact_id, "upstream", depth)

    def downstream(self, artifact_id: int, depth: int = 50) -> set[int]:
        return self._walk(artifact_id, "downstream", depth)

    def _next(self, artifact_id: int, direction: str) -> list[tuple[int, list[int]]]:
        """(execution id, neighbouring artifact ids) one hop away."""
        hops = []
        executions = self.producers(artifact_id)[:1] if direction == "upstream" else self.consumers(artifact_id)
        for execution_id in executions:
            inputs, outputs = self.store.execution_artifacts(execution_id)
            side = inputs if direction == "upstream" else outputs
            hops.append((execution_id, [a.id for arts in side.values() for a in arts if a.id is not None]))
        return hops

    def _walk(self, artifact_id: int, direction: str, depth: int) -> set[int]:
        found: set[int] = set()
        frontier = [artifact_id]
        for _ in range(depth):
            following = []
            for current in frontier:
                for _, neighbours in self._next(current, direction):
                    for n in neighbours:
                        if n not in found:
                            found.add(n)
                            following.append(n)
            if not following:
                break
            frontier = following
        return found

    def build_tree(self, tree: Any, artifact_id: int, direction: str, depth: int, _seen: set[int] | None = None) -> None:
        """Fill a rich Tree with the lineage; each artifact is expanded once."""
        seen = _seen if _seen is not None else {artifact_id}
        if depth <= 0:
            return
        for execution_id, neighbours in self._next(artifact_id, direction):
            record = self.store.get_execution(execution_id)
            branch = tree.add(f"[blue]{record.component_id}[/] execution {execution_id} ({record.state}, run {record.run_id})")
            for artifact in self.store.get_artifacts(neighbours):
                label = f"#{artifact.id} {artifact.TYPE_NAME} {artifact.uri}"
                if artifact.id in seen:
                    branch.add(label + " [dim](shown above)[/]")
                    continue
                seen.add(artifact.id or 0)
                self.build_tree(branch.add(label), artifact.id or 0, direction, depth - 1, seen)
