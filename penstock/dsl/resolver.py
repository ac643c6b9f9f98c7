"""Resolvers: nodes that pick existing artifacts from ML Metadata instead of producing new ones.

``Resolver(LatestBlessedModel(), model=Channel(Model), model_blessing=Channel(ModelBlessing))``
yields the newest model whose blessing says blessed: the Evaluator's baseline. An unbound
``Channel(T)`` means "every LIVE artifact of type T in this pipeline"; a bound channel means
what its producer made in this run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from penstock.dsl.artifact import Artifact
from penstock.dsl.cache_policy import CachePolicy
from penstock.dsl.channel import Channel
from penstock.dsl.node import Node
from penstock.dsl.standard_artifacts import Model, ModelBlessing
from penstock.errors import PipelineDefinitionError

if TYPE_CHECKING:
    from penstock.metadata.store import MetadataStore


class ResolverStrategy:
    """Chooses artifacts among candidates; ``validate`` checks the wiring at declaration."""

    def validate(self, resolver_id: str, channels: dict[str, Channel]) -> None:
        """Raise PipelineDefinitionError when the channels do not fit the strategy."""

    def resolve(
        self, store: MetadataStore, candidates: dict[str, list[Artifact]]
    ) -> dict[str, list[Artifact]]:
        raise NotImplementedError


class LatestArtifact(ResolverStrategy):
    """The newest LIVE artifact of each input."""

    def resolve(self, store: MetadataStore, candidates: dict[str, list[Artifact]]) -> dict[str, list[Artifact]]:
        return {key: _newest(arts)[:1] for key, arts in candidates.items()}


class LatestBlessedModel(ResolverStrategy):
    """The newest model whose ModelBlessing says blessed (and that blessing)."""

    def validate(self, resolver_id: str, channels: dict[str, Channel]) -> None:
        for key, kind in (("model", Model), ("model_blessing", ModelBlessing)):
            channel = channels.get(key)
            if channel is None or not issubclass(channel.type, kind):
                raise PipelineDefinitionError(
                    f"{resolver_id}: LatestBlessedModel needs input {key!r} of type {kind.__name__}"
                )

    def resolve(self, store: MetadataStore, candidates: dict[str, list[Artifact]]) -> dict[str, list[Artifact]]:
        models = {m.id: m for m in candidates.get("model", [])}
        for blessing in _newest(candidates.get("model_blessing", [])):
            if blessing.get_property("blessed") == 1 and blessing.get_property("model_id") in models:
                return {"model": [models[blessing.get_property("model_id")]], "model_blessing": [blessing]}
        return {"model": [], "model_blessing": []}


def _newest(artifacts: list[Artifact]) -> list[Artifact]:
    return sorted(artifacts, key=lambda a: (a.create_time_ms or 0, a.id or 0), reverse=True)


class Resolver(Node):
    """A pipeline node that resolves artifacts with a strategy; its outputs mirror its inputs."""

    def __init__(self, strategy: ResolverStrategy, *, id: str = "Resolver", **channels: Any) -> None:
        if not isinstance(strategy, ResolverStrategy):
            raise PipelineDefinitionError(f"{id}: strategy must be a ResolverStrategy instance, got {strategy!r}")
        for key, channel in channels.items():
            if not isinstance(channel, Channel):
                raise PipelineDefinitionError(f"{id}: input {key!r} must be a Channel, got {channel!r:.80}")
        strategy.validate(id, channels)
        super().__init__(id, dict(channels), {k: c.type for k, c in channels.items()},
                         cache_policy=CachePolicy(enabled=False))
        self.strategy = strategy
