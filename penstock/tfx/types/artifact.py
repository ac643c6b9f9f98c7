"""``tfx.types.artifact``: the base class of artifact types and its property declarations."""

from penstock.tfx._artifacts import Artifact, Property, PropertyType

__all__ = ["Artifact", "Property", "PropertyType"]
