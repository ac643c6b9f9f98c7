"""``tfx.dsl.experimental``: resolver strategies, RuntimeParameter, container components."""

from penstock.tfx._dsl import (
    LatestArtifactStrategy,
    LatestBlessedModelStrategy,
    ResolverStrategy,
    RuntimeParameter,
    SpanRangeStrategy,
    create_container_component,
)

__all__ = ["LatestArtifactStrategy", "LatestBlessedModelStrategy", "ResolverStrategy", "RuntimeParameter",
           "SpanRangeStrategy", "create_container_component"]
