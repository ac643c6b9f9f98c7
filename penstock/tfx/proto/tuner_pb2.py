"""TFX's ``tfx.proto.tuner_pb2`` messages, as penstock defines them (see ``_definitions``)."""

from penstock.tfx.proto._definitions import module_getattr

__getattr__ = module_getattr("tuner", __name__)
