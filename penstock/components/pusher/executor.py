"""The Pusher's executor: gate on the blessings, then publish a new TF Serving version.

A version must appear whole to a server polling the destination:

- On a disk, the SavedModel is copied into ``<base>/<model_name>/.push-<random>`` (same folder,
  so the same filesystem), flushed, and renamed to ``<base>/<model_name>/<version>``. TF Serving
  only considers folders whose name is an integer, and a rename is atomic. A version number is
  claimed by the rename itself (renaming onto an existing non-empty folder fails), so two
  pushers racing on one destination never overwrite each other.
- On an object store, which cannot rename, the files are written in place with
  ``saved_model.pb`` last: servers (TF Serving, ``penstock serve``) only load a version whose
  ``saved_model.pb`` exists, and by then every variable and asset is there.

Each version carries ``assets.extra/penstock_push.json`` (TF Serving ignores any other file in
``assets.extra``) naming the model artifact it holds. A Pusher killed after copying and before
its execution was recorded, then resumed, finds its own version there and records it (finishing
it first if it was cut short) instead of pushing the same model again as a new version.

``models.config`` (TF Serving's ``--model_config_file``, a text ModelServerConfig) is updated
without locks, which object stores do not have: read, merge this model's entry, write the whole
file at once, read back, and merge again if a concurrent pusher's write replaced ours.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

from penstock.components.pusher.component import destination_problem, model_name_problem
from penstock.dsl.artifact import Artifact
from penstock.errors import InputDataError, NotFoundError, PipelineDefinitionError, StorageError
from penstock.runtime.context import ExecutorContext
from penstock.storage import filesystem, layout, model_versions
from penstock.storage import model as model_io

MODELS_CONFIG = "models.config"
PUSH_RECORD = "assets.extra/penstock_push.json"
SAVED_MODEL_FILE = "saved_model.pb"
_CONFIG_ATTEMPTS = 8


def run(ctx: ExecutorContext) -> None:
    model = ctx.input("model")
    blessing = ctx.optional_input("model_blessing")  # required by penstock's Pusher; TFX's may omit it
    infra = ctx.optional_input("infra_blessing")
    pushed = ctx.output("pushed_model")
    base = ctx.parameters["push_destination"]
    model_name = ctx.parameters["model_name"] or ctx.pipeline_name
    keep = int(ctx.parameters["keep_versions"])

    problem = destination_problem(base)
    if problem:
        raise PipelineDefinitionError(f"{ctx.component_id}: push_destination {base!r} {problem}")
    name_problem = model_name_problem(model_name)
    if name_problem:  # the default, the pipeline's name
        raise PipelineDefinitionError(f"{ctx.component_id}: model name {model_name!r} (the pipeline's name) "
                                      f"{name_problem}; pass model_name=")
    for verdict in (blessing, infra):
        if verdict is not None and verdict.get_property("model_id") not in (None, model.id):
            raise PipelineDefinitionError(
                f"{ctx.component_id}: {verdict.TYPE_NAME} {verdict.id} judges model {verdict.get_property('model_id')}, "
                f"but the model input is {model.id}; wire the same Trainer output into both components"
            )

    record_path = filesystem.join(pushed.uri, layout.PUSH_RECORD_FILE)
    reason = refusal_reason(model, blessing, infra)
    if reason is not None:
        pushed.set_property("pushed", 0)
        pushed.custom_properties["reason"] = reason
        filesystem.write_json(record_path, {"pushed": False, "model_id": model.id, "reason": reason})
        ctx.log.warning("model %s not pushed: %s", model.id, reason)
        return

    source = model_io.serving_dir(model)
    model_dir = filesystem.join(base, model_name)
    identity = {"model_id": model.id, "model_uri": model.uri, "pipeline": ctx.pipeline_name, "run_id": ctx.run_id}
    version = pushed_before(model_dir, identity)
    try:
        if version is not None:
            ctx.log.info("model %s is already version %d of %s (an earlier attempt pushed it)", model.id, version, model_name)
            version_dir = filesystem.join(model_dir, str(version))
            if not filesystem.exists(filesystem.join(version_dir, SAVED_MODEL_FILE)):  # cut short: finish it
                _copy_version(source, version_dir, identity)
        else:
            version, version_dir = push_version(source, model_dir, identity)
    except OSError as e:  # one line naming the destination, not one per file
        raise StorageError(f"pushing model {model.id} to {model_dir} failed: {e.strerror or e}"
                           + (f" ({e.filename})" if e.filename else "")) from e
    # A version models.config pins (a rollback) or labels is what a server serves: never prune it.
    entry = models_config_entry(base, model_name)
    pinned = set(entry.model_version_policy.specific.versions) if entry is not None else set()
    labelled = set(entry.version_labels.values()) if entry is not None else set()
    removed = prune_versions(model_dir, keep, protected=pinned | labelled) if keep else []
    update_models_config(base, model_name, model_dir)
    if pinned and version not in pinned:
        pushed.custom_properties["pinned_versions"] = ",".join(str(v) for v in sorted(pinned))
        ctx.log.warning("%s/models.config pins model %s to version(s) %s (penstock rollback): version %d is "
                        "pushed but a server reading that file will not serve it until the pin is moved "
                        "(penstock rollback %s --to %d --reason ...) or released (--to latest)",
                        base, model_name, ", ".join(map(str, sorted(pinned))), version, model_name, version)

    pushed.set_property("pushed", 1)
    pushed.set_property("pushed_version", version)
    pushed.custom_properties["pushed_destination"] = version_dir
    pushed.custom_properties["model_name"] = model_name
    filesystem.write_json(record_path, {
        "pushed": True, "model_id": model.id, "model_name": model_name, "version": version,
        "destination": version_dir, "removed_versions": removed, "pushed_at_ms": int(time.time() * 1000),
    })
    ctx.log.info("pushed model %s as %s version %d (%s)", model.id, model_name, version, version_dir)


def refusal_reason(model: Artifact, blessing: Artifact | None, infra: Artifact | None) -> str | None:
    """Why the model must not be pushed, or None when every verdict given is positive."""
    if blessing is not None and blessing.get_property("blessed") != 1:
        why = blessing.custom_properties.get("explanation") or "no explanation recorded"
        return f"model {model.id} is not blessed by the Evaluator (ModelBlessing {blessing.id}): {why}"
    if infra is not None and infra.get_property("blessed") != 1:
        why = infra.custom_properties.get("explanation") or "no explanation recorded"
        return f"model {model.id} failed infra validation (InfraBlessing {infra.id}): {why}"
    return None


def existing_versions(model_dir: str) -> list[int]:
    """Integer version folders under ``model_dir``, ascending (what TF Serving would see)."""
    try:
        return sorted(model_versions.list_versions(model_dir))
    except model_versions.BasePathUnavailable:  # no folder yet: no version
        return []


def pushed_before(model_dir: str, identity: dict[str, Any]) -> int | None:
    """The version already holding this model (from an attempt whose record was lost), if any."""
    for version in reversed(existing_versions(model_dir)):
        try:
            record = filesystem.read_json(filesystem.join(model_dir, str(version), PUSH_RECORD))
        except (OSError, ValueError, StorageError):
            continue
        if record.get("model_uri") == identity["model_uri"] and record.get("model_id") == identity["model_id"]:
            return version
    return None


def push_version(source: str, model_dir: str, identity: dict[str, Any]) -> tuple[int, str]:
    """Publish ``source`` as version ``max + 1`` of ``model_dir``."""
    if filesystem.is_remote(model_dir):
        version = (existing_versions(model_dir) or [0])[-1] + 1
        target = filesystem.join(model_dir, str(version))
        _copy_version(source, target, identity)
        return version, target
    return _push_local(source, model_dir, identity)


def _copy_version(source: str, target: str, identity: dict[str, Any]) -> None:
    """Everything but ``saved_model.pb``, then the push record, then ``saved_model.pb``."""
    filesystem.copy_tree(source, target, last=(SAVED_MODEL_FILE,), before_last=lambda: filesystem.write_json(
        filesystem.join(target, PUSH_RECORD), identity))


def _push_local(source: str, model_dir: str, identity: dict[str, Any]) -> tuple[int, str]:
    """Copy next to the versions, then claim ``max + 1`` with one rename; retry with the next
    number if another pusher took it first."""
    import errno

    os.makedirs(model_dir, exist_ok=True)
    staging = os.path.join(model_dir, f".push-{secrets.token_hex(6)}")
    try:
        filesystem.copy_tree(source, staging)
        filesystem.write_json(os.path.join(staging, PUSH_RECORD), identity)
        os.makedirs(os.path.join(staging, "assets"), exist_ok=True)  # TF Serving's layout has assets/ even when empty
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
        filesystem.delete(staging)


def prune_versions(model_dir: str, keep: int, protected: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """Remove all but the newest ``keep`` versions, except ``protected`` ones. On a disk each
    leaves with a rename first, so a reader never sees a half-deleted version; on an object store
    ``saved_model.pb`` goes first, after which no server loads it."""
    removed = []
    for version in existing_versions(model_dir)[:-keep]:
        if version in protected:
            continue
        folder = filesystem.join(model_dir, str(version))
        if filesystem.is_remote(model_dir):
            filesystem.delete(filesystem.join(folder, SAVED_MODEL_FILE))
            filesystem.delete(folder)
        else:
            doomed = os.path.join(model_dir, f".delete-{version}-{secrets.token_hex(4)}")
            try:
                os.rename(folder, doomed)
            except FileNotFoundError:  # a concurrent pusher pruned it already
                continue
            filesystem.delete(doomed)
        removed.append(version)
    return removed


def update_models_config(base: str, model_name: str, model_dir: str) -> str:
    """Add or update ``model_name`` in ``<base>/models.config`` (other models, and this model's
    version policy and labels, are kept)."""
    wanted = filesystem.absolute(model_dir)

    def point_at_model_dir(entry: Any) -> None:
        entry.base_path = wanted
        entry.model_platform = "tensorflow"

    return edit_models_config(base, model_name, point_at_model_dir)


def edit_models_config(base: str, model_name: str, edit: Callable[[Any], None], *, create: bool = True) -> str:
    """Apply ``edit`` to ``model_name``'s entry (a ``ModelConfig`` message) of ``<base>/models.config``.

    Object stores have no locks, so: read, edit, write the whole file, then read it back and edit
    again until the edit changes nothing (a concurrent writer that replaced the file lost ours; a
    later write of ours restores it). ``edit`` must therefore be idempotent. ``create=False``
    refuses a model the file does not list (NotFoundError) instead of adding it.
    """
    from google.protobuf import text_format

    path = filesystem.join(base, MODELS_CONFIG)
    for attempt in range(_CONFIG_ATTEMPTS):
        config = _read_models_config(path)
        entries = config.model_config_list.config
        entry = next((c for c in entries if c.name == model_name), None)
        if entry is None:
            if not create:
                raise NotFoundError(f"{path} does not list model {model_name!r}")
            entry = entries.add()
            entry.name = model_name
        before = entry.SerializeToString(deterministic=True)
        edit(entry)
        if attempt and entry.SerializeToString(deterministic=True) == before:
            return path  # our edit survived every concurrent write
        filesystem.write_text(path, text_format.MessageToString(config))
        time.sleep(random.uniform(0, 0.05) * attempt)  # spread writers that keep colliding
    raise StorageError(f"{path}: could not update model {model_name!r}: other writers kept replacing the file")


def read_models_config(base: str) -> Any:
    """``<base>/models.config`` as a ``ModelServerConfig`` message (empty when there is none)."""
    return _read_models_config(filesystem.join(base, MODELS_CONFIG))


def models_config_entry(base: str, model_name: str) -> Any:
    """``model_name``'s entry (a ``ModelConfig`` message) in ``<base>/models.config``, or None."""
    return next((c for c in read_models_config(base).model_config_list.config if c.name == model_name), None)


def _read_models_config(path: str) -> Any:
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        text = filesystem.read_text(path)
    except FileNotFoundError:
        return config
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise InputDataError(f"{path} is not a valid TF Serving model config (ModelServerConfig text proto): {e}") from None
    return config


def _fsync_tree(root: str) -> None:
    """Flush copied files before the rename publishes them (a crash must not publish empty files)."""
    for directory, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
