"""``tfx.dsl``: Pipeline, Resolver, Cond, Importer, Channel, Artifact and the submodules
``components`` (the function-component decorator), ``experimental`` (resolver strategies),
``io`` and ``placeholders``."""

from penstock.tfx._lazy import lazy_attributes

_DSL = "penstock.tfx._dsl"
_NAMES = {
    "Pipeline": (_DSL, "Pipeline"), "Resolver": (_DSL, "Resolver"), "Importer": (_DSL, "Importer"),
    "Channel": (_DSL, "Channel"), "ExecutionMode": (_DSL, "ExecutionMode"),
    "Cond": ("penstock.dsl.conditional", "Cond"), "Artifact": ("penstock.tfx._artifacts", "Artifact"),
}
_SUBMODULES = ("components", "experimental", "io", "placeholders")
__all__ = sorted([*_NAMES, *_SUBMODULES])
__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, _SUBMODULES)
