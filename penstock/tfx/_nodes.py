"""What TFX's nodes offer beyond penstock's: ``add_upstream_node``, ``add_downstream_node``,
``exec_properties``."""

from __future__ import annotations

from typing import Any


class TfxNodeMixin:
    """Mixed into every node class of ``penstock.tfx`` (before penstock's Node)."""

    id: str
    parameters: dict[str, Any]

    def add_upstream_node(self, upstream: Any) -> Any:
        return self.add_upstream(upstream)  # type: ignore[attr-defined]

    def add_downstream_node(self, downstream: Any) -> Any:
        downstream.add_upstream(self)
        return self

    @property
    def exec_properties(self) -> dict[str, Any]:
        return self.parameters
