"""``tfx.dsl.placeholders``: ``channel.future()`` gives placeholders for ``Cond``; the
placeholders of container components are not available in penstock."""

from __future__ import annotations

from typing import Any

from penstock.dsl.conditional import Placeholder, Predicate
from penstock.errors import PipelineDefinitionError


def _unsupported(name: str) -> Any:
    def placeholder(*args: Any, **kwargs: Any) -> Any:
        raise PipelineDefinitionError(f"tfx.dsl.placeholders.{name} builds container-component commands, which "
                                      "penstock does not run; use channel.future() in Cond conditions")

    return placeholder


exec_property = _unsupported("exec_property")
execution_invocation = _unsupported("execution_invocation")
input = _unsupported("input")
output = _unsupported("output")

__all__ = ["Placeholder", "Predicate", "exec_property", "execution_invocation", "input", "output"]
