"""The Pusher's executor: gate on the blessings, then publish a new TF Serving version atomically.

Atomicity: the SavedModel is copied into ``<base>/<model_name>/.push-<random>`` (same directory,
so the same filesystem) and renamed to ``<base>/<model_name>/<version>``. TF Serving only
considers directories whose name is an integer, and a rename is atomic, so a polling server (or
any reader) sees either no version or a complete one. Old versions leave the same way: renamed
to a dot-name first, deleted after. A version number is claimed by the rename itself (renaming
onto an existing non-empty directory fails), so two pushers racing on one destination never
overwrite each other.

``models.config`` (TF Serving's ``--model_config_file``, a text ModelServerConfig) is rewritten
under a file lock and replaced with a rename as well.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator

from penstock.components.pusher import destination_problem
from penstock.components.serving_model import serving_model_dir
from penstock.errors import InputDataError, PipelineDefinitionError
from penstock.pipelines.artifact import Artifact
from penstock.pipelines.context import ExecutorContext

MODELS_CONFIG = "models.config"


def run(ctx: ExecutorContext) -> None:
    model = ctx.input("model")
    blessing = ctx.input("model_blessing")
    infra = ctx.optional_input("infra_blessing")
    pushed = ctx.output("pushed_model")
    base = ctx.parameters["push_destination"]
    model_name = ctx.parameters.get("model_name") or ctx.pipeline_name
    keep = int(ctx.parameters.get("keep_versions", 5))

    problem = destination_problem(base)
    if problem:
        raise PipelineDefinitionError(f"{ctx.component_id}: push_destination {base!r} {problem}")
    for verdict in (blessing, infra):
        if verdict is not None and verdict.get_property("model_id") not in (None, model.id):
            raise PipelineDefinitionError(
                f"{ctx.component_id}: {verdict.TYPE_NAME} {verdict.id} judges model {verdict.get_property('model_id')}, "
                f"but the model input is {model.id}; wire the same Trainer output into both components"
            )

    reason = refusal_reason(model, blessing, infra)
    if reason is not None:
        pushed.set_property("pushed", 0)
        pushed.custom_properties["reason"] = reason
        _write_json(os.path.join(pushed.uri, "push.json"), {"pushed": False, "model_id": model.id, "reason": reason})
        ctx.log.warning("model %s not pushed: %s", model.id, reason)
        return

    source = serving_model_dir(model)

    model_dir = os.path.join(base, model_name)
    version, version_dir = push_version(source, model_dir)
    removed = prune_versions(model_dir, keep) if keep else []
    update_models_config(base, model_name, model_dir)

    pushed.set_property("pushed", 1)
    pushed.set_property("pushed_version", version)
    pushed.custom_properties["pushed_destination"] = version_dir
    pushed.custom_properties["model_name"] = model_name
    _write_json(
        os.path.join(pushed.uri, "push.json"),
        {"pushed": True, "model_id": model.id, "model_name": model_name, "version": version,
         "destination": version_dir, "removed_versions": removed, "pushed_at_ms": int(time.time() * 1000)},
    )
    ctx.log.info("pushed model %s as %s version %d (%s)", model.id, model_name, version, version_dir)


def refusal_reason(model: Artifact, blessing: Artifact, infra: Artifact | None) -> str | None:
    """Why the model must not be pushed, or None when every verdict is positive."""
    if blessing.get_property("blessed") != 1:
        why = blessing.custom_properties.get("explanation") or "no explanation recorded"
        return f"model {model.id} is not blessed by the Evaluator (ModelBlessing {blessing.id}): {why}"
    if infra is not None and infra.get_property("blessed") != 1:
        why = infra.custom_properties.get("explanation") or "no explanation recorded"
        return f"model {model.id} failed infra validation (InfraBlessing {infra.id}): {why}"
    return None


def existing_versions(model_dir: str) -> list[int]:
    """Integer version directories under ``model_dir``, ascending (what TF Serving would see)."""
    try:
        names = os.listdir(model_dir)
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(model_dir, n)))


def push_version(source: str, model_dir: str) -> tuple[int, str]:
    """Copy ``source`` next to the versions, then claim ``max + 1`` with one rename; retry with the
    next number if another pusher took it first."""
    os.makedirs(model_dir, exist_ok=True)
    staging = os.path.join(model_dir, f".push-{secrets.token_hex(6)}")
    try:
        shutil.copytree(source, staging)
        os.makedirs(os.path.join(staging, "assets"), exist_ok=True)  # TF Serving layout has assets/ even when empty
        _fsync_tree(staging)
        version = (existing_versions(model_dir) or [0])[-1] + 1
        while True:
            target = os.path.join(model_dir, str(version))
            if not os.path.exists(target):
                try:
                    os.rename(staging, target)
                    return version, target
                except OSError as e:
                    # Lost a race: someone else renamed onto this number between our check and ours.
                    if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
            version += 1
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)


def prune_versions(model_dir: str, keep: int) -> list[int]:
    """Remove all but the newest ``keep`` versions; each leaves with a rename first, so a reader
    never sees a half-deleted version."""
    removed = []
    for version in existing_versions(model_dir)[:-keep]:
        doomed = os.path.join(model_dir, f".delete-{version}-{secrets.token_hex(4)}")
        try:
            os.rename(os.path.join(model_dir, str(version)), doomed)
        except FileNotFoundError:  # a concurrent pusher pruned it already
            continue
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(version)
    return removed


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def update_models_config(base: str, model_name: str, model_dir: str) -> str:
    """Add or update ``model_name`` in ``<base>/models.config`` (other models are kept)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    path = os.path.join(base, MODELS_CONFIG)
    with _locked(os.path.join(base, f".{MODELS_CONFIG}.lock")):
        config = model_server_config_pb2.ModelServerConfig()
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            try:
                text_format.Parse(text, config)
            except text_format.ParseError as e:
                raise InputDataError(
                    f"{path} is not a valid TF Serving model config (ModelServerConfig text proto): {e}"
                ) from None
        entries = config.model_config_list.config
        entry = next((c for c in entries if c.name == model_name), None)
        if entry is None:
            entry = entries.add()
            entry.name = model_name
        entry.base_path = os.path.abspath(model_dir)
        entry.model_platform = "tensorflow"
        tmp = f"{path}.{secrets.token_hex(4)}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text_format.MessageToString(config))
        os.replace(tmp, path)
    return path


def _fsync_tree(root: str) -> None:
    """Flush copied files before the rename publishes them (a crash must not publish empty files)."""
    for directory, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _write_json(path: str, payload: dict[str, object]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
