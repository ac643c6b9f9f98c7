"""TFX's ``tfx.proto.distribution_validator_pb2`` messages, as penstock defines them (see ``_definitions``)."""

from penstock.tfx.proto._definitions import module_getattr

__getattr__ = module_getattr("distribution_validator", __name__)
