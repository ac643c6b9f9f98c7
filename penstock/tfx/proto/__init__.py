"""``tfx.proto`` (TFX 1.16's ``tfx.v1.proto``): the configuration messages components take.

    from penstock import tfx
    tfx.proto.TrainArgs(num_steps=100)
    tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(base_directory=d))

penstock's own definitions with TFX's field names (``_definitions``), compiled on first use:
importing this package compiles nothing. ``tfx.proto.example_gen_pb2`` etc. exist for files that
import the modules (``from tfx.proto import trainer_pb2``).
"""

from __future__ import annotations

import importlib
from typing import Any

from penstock.tfx.proto._definitions import load

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
_MODULES = {f"{name}_pb2" for name in set(_MESSAGES.values())}

__all__ = sorted([*_MESSAGES, "Filesystem"])


def __getattr__(name: str) -> Any:
    if name in _MESSAGES:
        value = load(_MESSAGES[name])[name]
    elif name == "Filesystem":  # tfx.v1.proto lists it at top level too
        value = load("pusher")["PushDestination"].Filesystem
    elif name in _MODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'penstock.tfx.proto' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__, *_MODULES])
