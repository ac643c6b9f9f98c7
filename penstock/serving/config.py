"""Which models the server serves and how: TF Serving's ``models.config`` (ModelServerConfig),
monitoring config and batching parameters text protos, the single-model flags, and penstock's
one extension, a traffic split between versions or labels for A/B tests.

The files are parsed with TF Serving's own protos (``tensorflow_serving.config`` for the model
config; penstock.serving._protos for the two that package lacks), so a file that works here works
with ``tensorflow_model_server`` and the other way round. A traffic split has no place in those
protos, so it is given separately (``--traffic_split NAME=TARGET:WEIGHT,...``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from penstock.serving.errors import ServingConfigError
from penstock.storage import filesystem

# What TF Serving users put in model names, and nothing that could walk a path or break a URL.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


def is_valid_model_name(name: str) -> bool:
    return bool(_MODEL_NAME.match(name)) and ".." not in name


def is_valid_label(label: str) -> bool:
    return bool(_LABEL.match(label))


@dataclass(frozen=True)
class VersionPolicy:
    """TF Serving's ServableVersionPolicy: ``latest`` N versions, ``specific`` ones, or ``all``."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def describe(self) -> str:
        if self.kind == "latest":
            return f"latest {self.num_versions}"
        if self.kind == "specific":
            return "specific " + ",".join(str(v) for v in self.versions)
        return "all"


@dataclass(frozen=True)
class TrafficSplit:
    """Weighted targets (a label or a version number as a string) for requests naming no version."""

    targets: tuple[tuple[str, float], ...]

    def ordered_choices(self, rng: random.Random) -> list[str]:
        """Targets in the order to try them: a weighted draw first, then the rest by weight."""
        names = [t for t, _ in self.targets]
        weights = [w for _, w in self.targets]
        first = rng.choices(names, weights=weights)[0]
        rest = [t for t, _ in sorted(self.targets, key=lambda tw: -tw[1]) if t != first]
        return [first, *rest]


@dataclass(frozen=True)
class ModelConfig:
    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()
    labels: dict[str, int] = field(default_factory=dict)
    traffic_split: TrafficSplit | None = None


def validate_model_config(config: ModelConfig, where: str) -> ModelConfig:
    if not is_valid_model_name(config.name):
        raise ServingConfigError(
            f"{where}: model name {config.name!r} is not allowed; use letters, digits, '_', '-', '.' "
            "(starting with a letter or digit, no '..', at most 128 characters)"
        )
    if not config.base_path:
        raise ServingConfigError(f"{where}: model {config.name!r} has no base_path")
    if "\x00" in config.base_path:
        raise ServingConfigError(f"{where}: model {config.name!r}: base_path contains a NUL byte")
    if config.policy.kind == "latest" and config.policy.num_versions < 1:
        raise ServingConfigError(f"{where}: model {config.name!r}: latest.num_versions must be >= 1")
    if config.policy.kind == "specific" and not config.policy.versions:
        raise ServingConfigError(f"{where}: model {config.name!r}: specific policy lists no versions")
    for label, version in config.labels.items():
        if not is_valid_label(label):
            raise ServingConfigError(f"{where}: model {config.name!r}: version label {label!r} is not allowed")
        if version < 0:
            raise ServingConfigError(f"{where}: model {config.name!r}: label {label!r} -> negative version {version}")
    return config


def single_model_config(name: str, base_path: str) -> ModelConfig:
    """The model given by ``--model-name`` / ``--model-base-path`` (TF Serving's defaults: latest 1)."""
    config = ModelConfig(name=name, base_path=filesystem.absolute(base_path))
    return validate_model_config(config, "--model-name/--model-base-path")


def parse_text_proto(text: str, message: str | Any, where: str) -> Any:
    """A text proto of ``message`` (a full name such as ``tensorflow.serving.MonitoringConfig``,
    or a message instance to fill)."""
    from google.protobuf import text_format

    from penstock.serving._protos import message_class

    proto = message_class(message)() if isinstance(message, str) else message
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as e:
        raise ServingConfigError(f"{where}: not a valid {proto.DESCRIPTOR.name} text proto: {e}") from None
    return proto


def read_text_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise ServingConfigError(f"{what} {path}: cannot be read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ServingConfigError(f"{what} {path}: is not UTF-8 text") from None


def parse_model_config_text(text: str, where: str) -> list[ModelConfig]:
    """Parse a ``ModelServerConfig`` text proto (TF Serving's models.config)."""
    from tensorflow_serving.config import model_server_config_pb2

    return model_configs_from_proto(parse_text_proto(text, model_server_config_pb2.ModelServerConfig(), where), where)


def model_configs_from_proto(proto: Any, where: str) -> list[ModelConfig]:
    """ModelConfigs of a ModelServerConfig message (a file's, or a HandleReloadConfigRequest's)."""
    if proto.WhichOneof("config") == "custom_model_config":
        raise ServingConfigError(f"{where}: custom_model_config is not supported; use model_config_list")
    configs: list[ModelConfig] = []
    seen: set[str] = set()
    for entry in proto.model_config_list.config:
        if entry.model_platform not in ("", "tensorflow"):
            raise ServingConfigError(
                f"{where}: model {entry.name!r}: model_platform {entry.model_platform!r} is not supported "
                "(only 'tensorflow' SavedModels)"
            )
        if entry.name in seen:
            raise ServingConfigError(f"{where}: Illegal to list model {entry.name} multiple times in config list")
        seen.add(entry.name)
        which = entry.model_version_policy.WhichOneof("policy_choice")
        if which == "specific":
            policy = VersionPolicy("specific", versions=tuple(sorted(entry.model_version_policy.specific.versions)))
        elif which == "all":
            policy = VersionPolicy("all")
        elif which == "latest":
            policy = VersionPolicy("latest", num_versions=entry.model_version_policy.latest.num_versions or 1)
        else:
            policy = VersionPolicy()
        base = entry.base_path
        configs.append(
            validate_model_config(
                ModelConfig(
                    name=entry.name,
                    base_path=filesystem.absolute(base) if base else "",
                    policy=policy,
                    labels=dict(entry.version_labels),
                ),
                where,
            )
        )
    if not configs:
        raise ServingConfigError(f"{where}: model_config_list lists no models")
    return configs


def load_model_config_file(path: str) -> list[ModelConfig]:
    return parse_model_config_text(read_text_file(path, "model config file"), f"model config file {path}")


@dataclass(frozen=True)
class MonitoringOptions:
    """TF Serving's MonitoringConfig: Prometheus metrics on the REST port, off unless enabled."""

    prometheus_enabled: bool = False
    path: str = "/monitoring/prometheus/metrics"


def load_monitoring_config_file(path: str) -> MonitoringOptions:
    proto = parse_text_proto(read_text_file(path, "monitoring config file"),
                             "tensorflow.serving.MonitoringConfig", f"monitoring config file {path}")
    prometheus = proto.prometheus_config
    return MonitoringOptions(prometheus.enable, prometheus.path or MonitoringOptions.path)


def load_batching_parameters_file(path: str) -> Any:
    return parse_text_proto(read_text_file(path, "batching parameters file"),
                            "tensorflow.serving.BatchingParameters", f"batching parameters file {path}")


def parse_traffic_split(spec: str) -> tuple[str, TrafficSplit]:
    """Parse ``NAME=TARGET:WEIGHT,TARGET:WEIGHT`` (targets: labels or version numbers)."""
    where = f"--traffic-split {spec!r}"
    name, sep, rest = spec.partition("=")
    if not sep or not rest:
        raise ServingConfigError(f"{where}: expected MODEL=TARGET:WEIGHT,TARGET:WEIGHT (e.g. taxi=stable:90,canary:10)")
    if not is_valid_model_name(name):
        raise ServingConfigError(f"{where}: model name {name!r} is not allowed")
    targets: list[tuple[str, float]] = []
    for part in rest.split(","):
        target, colon, weight_text = part.strip().partition(":")
        if not colon:
            raise ServingConfigError(f"{where}: {part!r} has no ':WEIGHT'")
        if not (target.isdigit() or is_valid_label(target)):
            raise ServingConfigError(f"{where}: target {target!r} is neither a version number nor a label")
        try:
            weight = float(weight_text)
        except ValueError:
            raise ServingConfigError(f"{where}: weight {weight_text!r} is not a number") from None
        if weight < 0 or weight != weight:
            raise ServingConfigError(f"{where}: weight {weight_text!r} must be >= 0")
        targets.append((target, weight))
    if sum(w for _, w in targets) <= 0:
        raise ServingConfigError(f"{where}: the weights sum to 0")
    if len({t for t, _ in targets}) != len(targets):
        raise ServingConfigError(f"{where}: a target appears twice")
    return name, TrafficSplit(tuple(targets))


def attach_traffic_splits(configs: list[ModelConfig], specs: list[str]) -> list[ModelConfig]:
    splits = dict(parse_traffic_split(s) for s in specs)
    known = {c.name for c in configs}
    for name in splits:
        if name not in known:
            raise ServingConfigError(f"--traffic-split: model {name!r} is not served (served: {', '.join(sorted(known))})")
    return [
        ModelConfig(c.name, c.base_path, c.policy, c.labels, splits.get(c.name, c.traffic_split)) for c in configs
    ]
