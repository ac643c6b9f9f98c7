"""Cache keys: caching as explicit data (the policy a component declares is
``penstock.dsl.cache_policy``).

A ``CacheKey`` lists everything that can change an execution's result: the component type and
version, its parameters, the identities of its input artifacts, the source of the user code it
runs (the module file and every user module it imports), fingerprints of the data it reads from
outside the pipeline (ExampleGen's input files), and the runner arguments that change results.
Two executions with equal keys produce interchangeable outputs. The key's fields are stored with
each execution, so ``penstock show`` can say which field changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any


@dataclasses.dataclass(frozen=True)
class CacheKey:
    component_type: str
    component_version: str
    parameters: dict[str, Any]
    input_artifact_ids: dict[str, list[int]]
    user_code: dict[str, str]
    beam_args: list[str]
    # What the component reads besides artifacts (ExampleGen: its input files); defaulted so
    # keys stored before this field existed still load.
    external_inputs: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> CacheKey:
        return cls(**json.loads(text))

    def differences(self, earlier: CacheKey) -> list[str]:
        """Human-readable reasons why ``earlier`` does not match this key."""
        reasons = []
        if self.component_type != earlier.component_type:
            reasons.append(f"component type {earlier.component_type} -> {self.component_type}")
        if self.component_version != earlier.component_version:
            reasons.append(f"component version {earlier.component_version} -> {self.component_version}")
        for name in sorted(set(self.parameters) | set(earlier.parameters)):
            old, new = earlier.parameters.get(name), self.parameters.get(name)
            if old != new:
                reasons.append(f"parameter {name}: {_short(old)} -> {_short(new)}")
        for name in sorted(set(self.input_artifact_ids) | set(earlier.input_artifact_ids)):
            old_ids, new_ids = earlier.input_artifact_ids.get(name), self.input_artifact_ids.get(name)
            if old_ids != new_ids:
                reasons.append(f"input {name}: artifacts {old_ids} -> {new_ids}")
        for path in sorted(set(self.user_code) | set(earlier.user_code)):
            old_hash, new_hash = earlier.user_code.get(path), self.user_code.get(path)
            if old_hash != new_hash:
                change = "added" if old_hash is None else "removed" if new_hash is None else "changed"
                reasons.append(f"user code {change}: {path}")
        for name in sorted(set(self.external_inputs) | set(earlier.external_inputs)):
            old_print, new_print = earlier.external_inputs.get(name), self.external_inputs.get(name)
            if old_print != new_print:
                reasons.append(f"input data {name}: {old_print} -> {new_print}")
        if self.beam_args != earlier.beam_args:
            reasons.append(f"beam args {earlier.beam_args} -> {self.beam_args}")
        return reasons


def file_fingerprint(path: str) -> str:
    """A small user file's content hash (a schema, a config) for ``Component.external_inputs``;
    ``absent`` when it is missing, so that the executor reports that with its own message."""
    try:
        with open(path, "rb") as f:
            return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()[:16]
    except FileNotFoundError:
        return "absent"
    except OSError as e:
        return f"unreadable ({e.strerror})"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."
