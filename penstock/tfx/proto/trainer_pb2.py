"""TFX's ``tfx.proto.trainer_pb2`` messages, as penstock defines them (see ``_definitions``)."""

from penstock.tfx.proto._definitions import module_getattr

__getattr__ = module_getattr("trainer", __name__)
