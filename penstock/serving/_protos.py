"""Message classes for TF Serving protos that tensorflow-serving-api does not ship.

``--monitoring_config_file`` (MonitoringConfig), ``--batching_parameters_file`` and
``batching_params.pbtxt`` (BatchingParameters), ``--ssl_config_file`` (SSLConfig) are text
protos, and ``grpc.health.v1`` is a gRPC service whose messages live in grpcio-health-checking,
which is not a dependency. The messages are declared here field by field (names, numbers and types
as in TF Serving's and gRPC's .proto files, so text files and wire bytes are interchangeable)
in a private descriptor pool, so a later package registering the same files cannot clash.
"""

from __future__ import annotations

import functools
from typing import Any

_SCALARS = {"bool": 8, "string": 9, "int64": 3, "enum": 14, "message": 11, "bytes": 12}
_LABEL_OPTIONAL, _LABEL_REPEATED = 1, 3

# package -> {message: [(field, number, type, type_name or "", repeated)]}
_FILES: dict[str, tuple[str, dict[str, list[tuple[str, int, str, str, bool]]]]] = {
    "penstock_tfs_monitoring.proto": ("tensorflow.serving", {
        "PrometheusConfig": [("enable", 1, "bool", "", False), ("path", 2, "string", "", False)],
        "MonitoringConfig": [("prometheus_config", 1, "message", ".tensorflow.serving.PrometheusConfig", False)],
    }),
    "penstock_tfs_batching.proto": ("tensorflow.serving", {
        "BatchingParameters": [
            ("max_batch_size", 1, "message", ".google.protobuf.Int64Value", False),
            ("batch_timeout_micros", 2, "message", ".google.protobuf.Int64Value", False),
            ("max_enqueued_batches", 3, "message", ".google.protobuf.Int64Value", False),
            ("num_batch_threads", 4, "message", ".google.protobuf.Int64Value", False),
            ("thread_pool_name", 5, "message", ".google.protobuf.StringValue", False),
            ("allowed_batch_sizes", 6, "int64", "", True),
            ("pad_variable_length_inputs", 7, "bool", "", False),
            ("enable_large_batch_splitting", 8, "message", ".google.protobuf.BoolValue", False),
            ("max_execution_batch_size", 9, "message", ".google.protobuf.Int64Value", False),
        ],
    }),
    "penstock_tfs_ssl.proto": ("tensorflow.serving", {
        "SSLConfig": [("server_key", 1, "string", "", False), ("server_cert", 2, "string", "", False),
                      ("custom_ca", 3, "string", "", False), ("client_verify", 4, "bool", "", False)],
    }),
    "penstock_grpc_health.proto": ("grpc.health.v1", {
        "HealthCheckRequest": [("service", 1, "string", "", False)],
        "HealthCheckResponse": [("status", 1, "enum", ".grpc.health.v1.HealthCheckResponse.ServingStatus", False)],
    }),
}
HEALTH_STATUS = {"UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2, "SERVICE_UNKNOWN": 3}


@functools.cache
def _pool() -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    for file_name, (package, messages) in _FILES.items():
        proto = descriptor_pb2.FileDescriptorProto(name=file_name, package=package, syntax="proto3")
        proto.dependency.append(wrappers_pb2.DESCRIPTOR.name)
        for message_name, fields in messages.items():
            message = proto.message_type.add(name=message_name)
            for name, number, kind, type_name, repeated in fields:
                field = message.field.add(name=name, number=number, type=_SCALARS[kind],
                                          label=_LABEL_REPEATED if repeated else _LABEL_OPTIONAL)
                if type_name:
                    field.type_name = type_name
            if message_name == "HealthCheckResponse":
                enum = message.enum_type.add(name="ServingStatus")
                for value_name, value in HEALTH_STATUS.items():
                    enum.value.add(name=value_name, number=value)
        pool.Add(proto)
    return pool


@functools.cache
def message_class(full_name: str) -> Any:
    """The class of ``full_name`` (e.g. ``tensorflow.serving.MonitoringConfig``)."""
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(full_name))
