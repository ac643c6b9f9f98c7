"""``tfx.proto`` (TFX 1.16's ``tfx.v1.proto``): the configuration messages components take.

    from penstock import tfx
    tfx.proto.TrainArgs(num_steps=100)
    tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(base_directory=d))

penstock's own definitions with TFX's field names (``_definitions``), compiled on first use:
importing this package compiles nothing. ``tfx.proto.example_gen_pb2`` etc. exist for files that
import the modules (``from tfx.proto import trainer_pb2``).
"""

from penstock.tfx._lazy import lazy_attributes

_MESSAGES: dict[str, str] = {
    **dict.fromkeys(["ClassifyOutput", "DataSpec", "ModelSpec", "OutputColumnsSpec", "OutputExampleSpec",
                     "PredictOutput", "PredictOutputCol", "RegressOutput"], "bulk_inferrer"),
    **dict.fromkeys(["DistributionValidatorConfig", "FeatureComparator"], "distribution_validator"),
    **dict.fromkeys(["FeatureSlicingSpec", "SingleSlicingSpec"], "evaluator"),
    **dict.fromkeys(["ExampleDiffConfig", "PairedExampleSkew"], "example_diff"),
    **dict.fromkeys(["CustomConfig", "Input", "Output", "PayloadFormat", "SplitConfig"], "example_gen"),
    **dict.fromkeys(["EnvVar", "EnvVarSource", "KubernetesConfig", "LocalDockerConfig", "PodOverrides",
                     "RequestSpec", "SecretKeySelector", "ServingSpec", "TensorFlowServing",
                     "TensorFlowServingRequestSpec", "ValidationSpec"], "infra_validator"),
    **dict.fromkeys(["PushDestination", "Versioning"], "pusher"),
    **dict.fromkeys(["RangeConfig", "RollingRange", "StaticRange"], "range_config"),
    **dict.fromkeys(["EvalArgs", "TrainArgs"], "trainer"),
    "SplitsConfig": "transform",
    "TuneArgs": "tuner",
}
_MODULES = tuple(sorted(f"{name}_pb2" for name in set(_MESSAGES.values())))
_NAMES = {name: (f"{__name__}.{module}_pb2", name) for name, module in _MESSAGES.items()}
__all__ = sorted([*_MESSAGES, "Filesystem"])
_getattr, __dir__ = lazy_attributes(__name__, _NAMES, _MODULES)


def __getattr__(name: str) -> object:
    if name == "Filesystem":  # tfx.v1.proto lists PushDestination.Filesystem at top level too
        return _getattr("PushDestination").Filesystem
    return _getattr(name)
