"""``tfx.types``: Channel, artifact types, component base classes and component specs."""

from penstock.tfx._lazy import lazy_attributes

_CUSTOM = "penstock.tfx._custom"
_NAMES = {
    "Channel": ("penstock.tfx._dsl", "Channel"), "BaseChannel": ("penstock.dsl.channel", "Channel"),
    "Artifact": ("penstock.tfx._artifacts", "Artifact"), "Property": ("penstock.tfx._artifacts", "Property"),
    "ValueArtifact": ("penstock.dsl.standard_artifacts", "ValueArtifact"),
    "BaseComponent": (_CUSTOM, "BaseComponent"), "BaseBeamComponent": (_CUSTOM, "BaseBeamComponent"),
    "ComponentSpec": (_CUSTOM, "ComponentSpec"), "BaseNode": ("penstock.dsl.node", "Node"),
    "BaseFunctionalComponent": ("penstock.dsl.function_component", "FunctionComponent"),
}
_SUBMODULES = ("artifact", "artifact_utils", "channel", "component_spec", "standard_artifacts")
__all__ = sorted([*_NAMES, *_SUBMODULES])
__getattr__, __dir__ = lazy_attributes(__name__, _NAMES, _SUBMODULES)
