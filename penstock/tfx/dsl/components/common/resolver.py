"""``tfx.dsl.components.common.resolver``."""

from penstock.tfx._dsl import Resolver, ResolverStrategy

__all__ = ["Resolver", "ResolverStrategy"]
