"""penstock's definitions of TFX's configuration messages (field names and numbers as TFX's,
so their JSON and text forms are interchangeable), one entry per TFX ``*_pb2`` module.

Compiled on first use by ``_compiler.build_file``; each ``penstock.tfx.proto.<name>_pb2`` module
exposes one entry's messages and enums.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from penstock.tfx.proto._compiler import build_file

_PACKAGE = "penstock.tfx.proto"

DEFINITIONS: dict[str, tuple[str, dict[str, str]]] = {
    "example_gen": ("""
        message Input {
          message Split { string name = 1; string pattern = 2; }
          repeated Split splits = 1;
        }
        message CustomConfig { google.protobuf.Any custom_config = 1; }
        enum PayloadFormat {
          FORMAT_UNSPECIFIED = 0; FORMAT_TF_EXAMPLE = 6; FORMAT_TF_SEQUENCE_EXAMPLE = 7;
          FORMAT_PROTO = 11; FORMAT_PARQUET = 15;
        }
        enum FileFormat { FILE_FORMAT_UNSPECIFIED = 0; FORMAT_TFRECORDS_GZIP = 5; FILE_FORMAT_PARQUET = 16; }
        message Output { SplitConfig split_config = 3; }
        message SplitConfig {
          message Split { string name = 1; uint32 hash_buckets = 2; }
          repeated Split splits = 1;
          oneof splitting_method_config { string partition_feature_name = 2; }
        }
    """, {"google/protobuf/any.proto": "google.protobuf.any_pb2"}),
    "range_config": ("""
        message StaticRange { int32 start_span_number = 1; int32 end_span_number = 2; }
        message RollingRange { int32 start_span_number = 1; int32 num_spans = 2; }
        message RangeConfig {
          oneof range { StaticRange static_range = 1; RollingRange rolling_range = 2; }
        }
    """, {}),
    "trainer": ("""
        message TrainArgs { repeated string splits = 1; int32 num_steps = 2; }
        message EvalArgs { repeated string splits = 1; int32 num_steps = 2; }
    """, {}),
    "tuner": ("""
        message TuneArgs { int32 num_parallel_trials = 1; }
    """, {}),
    "transform": ("""
        message SplitsConfig { repeated string analyze = 1; repeated string transform = 2; }
    """, {}),
    "pusher": ("""
        message PushDestination {
          oneof destination { Filesystem filesystem = 3; }
          message Filesystem { string base_directory = 1; Versioning versioning = 6; }
        }
        enum Versioning { AUTO = 0; UNIX_TIMESTAMP = 1; }
    """, {}),
    "evaluator": ("""
        message SingleSlicingSpec { repeated string column_for_slicing = 1; }
        message FeatureSlicingSpec { repeated SingleSlicingSpec specs = 1; }
    """, {}),
    "bulk_inferrer": ("""
        message ModelSpec { repeated string model_signature_name = 2; repeated string tag = 5; }
        message DataSpec { repeated string example_splits = 2; }
        message OutputExampleSpec { repeated OutputColumnsSpec output_columns_spec = 3; }
        message OutputColumnsSpec {
          string signature_name = 1;
          oneof output_type {
            ClassifyOutput classify_output = 2;
            RegressOutput regress_output = 3;
            PredictOutput predict_output = 4;
          }
        }
        message ClassifyOutput { string label_column = 1; string score_column = 2; }
        message RegressOutput { string value_column = 1; }
        message PredictOutput { repeated PredictOutputCol output_columns = 1; }
        message PredictOutputCol { string output_key = 1; string output_column = 2; }
    """, {}),
    "infra_validator": ("""
        message ServingSpec {
          oneof serving_binary { TensorFlowServing tensorflow_serving = 1; }
          oneof serving_platform { LocalDockerConfig local_docker = 2; KubernetesConfig kubernetes = 3; }
          string model_name = 4;
        }
        message TensorFlowServing { string image_name = 3; repeated string tags = 1; repeated string digests = 2; }
        message LocalDockerConfig {
          string client_base_url = 1; string client_api_version = 2; int32 client_timeout_seconds = 3;
          string host_ip_address = 4;
        }
        message KubernetesConfig {
          string service_account_name = 1; int32 active_deadline_seconds = 2; PodOverrides serving_pod_overrides = 3;
        }
        message PodOverrides { map<string, string> annotations = 1; repeated EnvVar env = 2; Resources resources = 3; }
        message EnvVar { string name = 1; string value = 2; EnvVarSource value_from = 3; }
        message EnvVarSource { SecretKeySelector secret_key_ref = 4; }
        message SecretKeySelector { string name = 1; string key = 2; }
        message Resources {
          map<string, string> requests = 1; map<string, string> limits = 2; map<string, string> claims = 3;
        }
        message ValidationSpec { int32 max_loading_time_seconds = 1; int32 num_tries = 2; }
        message RequestSpec {
          oneof kind { TensorFlowServingRequestSpec tensorflow_serving = 1; }
          string split_name = 2; int32 num_examples = 3; bool make_warmup = 4;
        }
        message TensorFlowServingRequestSpec { repeated string tag_set = 1; repeated string signature_names = 2; }
    """, {}),
    "example_diff": ("""
        message PairedExampleSkew {
          repeated string identifier_features = 1; uint32 skew_sample_size = 2; repeated string ignore_features = 3;
          uint32 float_round_ndigits = 4; bool allow_duplicate_identifiers = 5;
          message ConfusionConfig { string feature_name = 1; }
          repeated ConfusionConfig confusion_config = 6;
        }
        message ExampleDiffConfig { PairedExampleSkew paired_example_skew = 1; }
    """, {}),
    "distribution_validator": ("""
        message FeatureComparator {
          tensorflow.metadata.v0.Path path = 1;
          tensorflow.metadata.v0.FeatureComparator distribution_comparator = 2;
        }
        message DistributionValidatorConfig {
          message DatasetConfig {
            repeated FeatureComparator feature = 1;
            tensorflow.metadata.v0.NumericValueComparator num_examples_comparator = 2;
          }
          DatasetConfig default_slice_config = 1;
        }
    """, {"tensorflow_metadata/proto/v0/path.proto": "tensorflow_metadata.proto.v0.path_pb2",
          "tensorflow_metadata/proto/v0/schema.proto": "tensorflow_metadata.proto.v0.schema_pb2"}),
}

_lock = threading.Lock()
_loaded: dict[str, dict[str, Any]] = {}


def load(name: str) -> dict[str, Any]:
    """The message classes and enums of one definition (compiled once per process)."""
    with _lock:
        if name not in _loaded:
            text, dependencies = DEFINITIONS[name]
            modules = {file: importlib.import_module(module) for file, module in dependencies.items()}
            _loaded[name] = build_file(f"penstock/tfx/proto/{name}.proto", f"{_PACKAGE}.{name}", text, modules)
        return _loaded[name]


def module_getattr(definition: str, module: str) -> Any:
    """A ``__getattr__`` for the ``<definition>_pb2`` module: its names load on first use."""

    def __getattr__(attribute: str) -> Any:
        values = load(definition)
        if attribute not in values:
            raise AttributeError(f"module {module!r} has no attribute {attribute!r}")
        return values[attribute]

    return __getattr__
