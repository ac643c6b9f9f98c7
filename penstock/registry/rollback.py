"""``penstock rollback NAME --to VERSION --reason TEXT``: serve an earlier blessed version again.

The rollback is TF Serving's own mechanism, so it works the same with ``tensorflow_model_server``
and ``penstock serve``: the model's entry in ``<serving dir>/models.config`` gets a ``specific``
version policy naming the version (serving_config.md: "useful for rolling back to a known good
version"); servers started with ``--model_config_file=<serving dir>/models.config`` and
``--model_config_file_poll_wait_seconds=N`` (or sent the file with HandleReloadConfigRequest)
load it, and, by the availability-preserving policy, unload the newer version only once the
older one serves: no request fails. ``--to latest`` removes the pin. The file is edited with the
Pusher's own lock-free read-edit-write-verify loop, so it may live on an object store, and a
Pusher running meanwhile keeps the pin (and never prunes a pinned version).

Version labels (``stable`` -> 3) may only move to a version that is already loaded (TF Serving
refuses otherwise), so when the entry has labels the rollback is done in two writes: first the
policy serves both the current versions and the target, then, once the server reports the target
AVAILABLE, the policy keeps only the target and the labels move to it. That needs the server's
address (``--server``).

Each rollback is an execution of type ``penstock.Rollback`` in ML Metadata (who, when, why, what
was served before, forced or not), attached to the run that pushed the target version and
consuming its Model and PushedModel, so ``penstock models NAME`` and lineage show it.
"""

from __future__ import annotations

import dataclasses
import datetime
import getpass
import time
from collections.abc import Callable
from typing import Any

from penstock.errors import PenstockError
from penstock.metadata.states import ExecutionState
from penstock.metadata.store import MetadataStore
from penstock.registry.catalog import ROLLBACK_TYPE, Catalog, ModelVersion
from penstock.registry.serving_state import available_versions, server_status, serving_dir_state
from penstock.storage import filesystem

NODE_ID = "Rollback"
PUSH_RECORD = "assets.extra/penstock_push.json"  # written by the Pusher into every version


class RollbackError(PenstockError):
    """A rollback that cannot (or must not) be done; the message says what to do instead."""


@dataclasses.dataclass
class RollbackResult:
    name: str
    to: int | None  # None: released to the latest version
    before: str
    serving_dir: str
    config_file: str
    execution_id: int
    model_id: int | None
    served: list[int]  # what the serving directory's config now serves
    server_versions: list[int] | None = None  # AVAILABLE on the server, when one was given


def rollback(store: MetadataStore, name: str, to: int | None, reason: str, *, serving_dir: str | None = None,
             force: bool = False, user: str | None = None, server: str | None = None,
             wait_seconds: float = 120.0, log: Callable[[str], None] = lambda _: None) -> RollbackResult:
    """Pin ``name`` to version ``to`` (``None``: release the pin) in ``models.config`` and record it."""
    if not reason.strip():
        raise RollbackError("--reason must say why (it is recorded in ML Metadata)")
    catalog = Catalog(store)
    versions = catalog.versions(name)
    serving_dir = filesystem.absolute(serving_dir) if serving_dir else versions[-1].serving_dir
    if not serving_dir:
        raise RollbackError(f"cannot tell where model {name!r} is served: pass --serving-dir")
    state = serving_dir_state(serving_dir, name)
    target = _check_target(catalog, name, to, state, force) if to is not None else None

    before = _describe(state)
    labels = dict(state["labels"])
    if to is not None and labels and any(v != to for v in labels.values()):
        if server is None:
            raise RollbackError(
                f"{state['config_file']} labels versions of {name} ({_labels_text(labels)}): TF Serving moves a "
                f"label only to a loaded version, so the rollback loads version {to} first and moves the labels "
                f"then; pass --server http://HOST:REST_PORT so it can wait for version {to} in between")
        both = sorted(set(state["served"]) | {to})
        log(f"serving versions {', '.join(map(str, both))} until version {to} is available, then moving the labels")
        _write_policy(serving_dir, name, both, labels)
        _wait_for(server, name, lambda available: to in available, wait_seconds, f"version {to} to be available",
                  state["config_file"])
        labels = {label: to for label in labels}
    _write_policy(serving_dir, name, [to] if to is not None else None, labels)
    after = serving_dir_state(serving_dir, name)

    entry = target or versions[-1]
    execution_id = _record(store, entry, name, to, before, reason.strip(), serving_dir, force, user)
    result = RollbackResult(name, to, before, serving_dir, state["config_file"], execution_id,
                            entry.model.id if entry.model is not None else None, after["served"])
    if server is not None:
        wanted = set(after["served"])
        status = _wait_for(server, name, lambda available: set(available) == wanted, wait_seconds,
                           f"it to serve exactly version(s) {', '.join(map(str, sorted(wanted)))}", state["config_file"])
        result.server_versions = available_versions(status)
    return result


def _check_target(catalog: Catalog, name: str, to: int, state: dict[str, Any], force: bool) -> ModelVersion | None:
    """The version's registry entry; RollbackError when it is not on the serving directory, or
    was never blessed and ``force`` is not given."""
    if to not in state["on_disk"]:
        where = filesystem.join(state["serving_dir"], name, str(to))
        there = ", ".join(map(str, state["on_disk"])) or "none"
        raise RollbackError(
            f"version {to} of {name} is not a complete version under {filesystem.join(state['serving_dir'], name)} "
            f"(versions there: {there}): {where} was removed (the Pusher keeps the newest keep_versions) or never "
            "written; push its model again, or roll back to a version that is there")
    record = _push_record(state["serving_dir"], name, to)
    entry = next((v for v in catalog.versions(name) if v.version == to), None)
    model_id = record.get("model_id") if record else None
    if entry is not None and model_id is not None and entry.model is not None and entry.model.id != model_id:
        entry = None  # the folder holds another model than ML Metadata's push of that number
    if entry is None and model_id is not None:
        entry = catalog.version_of_model(int(model_id))
    if entry is not None and entry.blessed:
        return entry
    if not force:
        if entry is None:
            why = ("its folder has no push record naming its model" if model_id is None
                   else f"ML Metadata has no push of its model {model_id}")
        else:
            verdicts = "; ".join(b["explanation"].splitlines()[0] for b in entry.details["blessings"] if b["explanation"])
            why = f"no blessing of its model {entry.model.id if entry.model else '?'} says blessed" + (
                f" ({verdicts})" if verdicts else "")
        raise RollbackError(f"version {to} of {name} was never blessed: {why}. Bless it first "
                            "(penstock bless --force MODEL_ID --reason ...), or pass --force to serve it anyway "
                            "(recorded as forced)")
    return entry


def _push_record(serving_dir: str, name: str, version: int) -> dict[str, Any] | None:
    try:
        record = filesystem.read_json(filesystem.join(serving_dir, name, str(version), PUSH_RECORD))
    except (OSError, ValueError, PenstockError):
        return None
    return record if isinstance(record, dict) else None


def _write_policy(serving_dir: str, name: str, versions: list[int] | None, labels: dict[str, int]) -> None:
    """One lock-free edit of the entry (the Pusher's function): ``specific`` versions (None: the
    default, latest 1) and labels."""
    from penstock.components.pusher.executor import edit_models_config

    base_path = filesystem.join(serving_dir, name)

    def edit(entry: Any) -> None:
        if not entry.base_path:  # a model the file did not list yet (a server run with --model_base_path)
            entry.base_path = filesystem.absolute(base_path)
            entry.model_platform = "tensorflow"
        entry.model_version_policy.Clear()
        if versions is not None:
            entry.model_version_policy.specific.versions.extend(sorted(versions))
        entry.version_labels.clear()
        entry.version_labels.update(labels)

    edit_models_config(serving_dir, name, edit)


def _wait_for(server: str, name: str, done: Callable[[list[int]], bool], seconds: float, what: str,
              config_file: str) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status = server_status(server, name)
        if status["error"] is None and done(available_versions(status)):
            return status
        if time.monotonic() > deadline:
            seen = status["error"] or f"available: {available_versions(status) or 'none'}"
            raise RollbackError(
                f"{config_file} is updated, but the server at {status['address']} did not show {what} within "
                f"{seconds:.0f} s ({seen}); is it started with --model_config_file={config_file} and "
                "--model_config_file_poll_wait_seconds=N?")
        time.sleep(0.2)


def _describe(state: dict[str, Any]) -> str:
    text = f"policy {state['policy']}, serving {', '.join(map(str, state['served'])) or 'nothing'}"
    return text + (f", labels {_labels_text(state['labels'])}" if state["labels"] else "")


def _labels_text(labels: dict[str, int]) -> str:
    return ", ".join(f"{k} -> {v}" for k, v in sorted(labels.items()))


def _record(store: MetadataStore, entry: ModelVersion, name: str, to: int | None, before: str, reason: str,
            serving_dir: str, force: bool, user: str | None) -> int:
    push = entry.push_execution
    if push is None:
        raise RollbackError(f"version {entry.version} of {name} has no recorded push execution to attach the record to")
    now = datetime.datetime.now(tz=datetime.UTC)
    inputs = {"pushed_model": [entry.pushed]}
    if entry.model is not None:
        inputs["model"] = [entry.model]
    start_ms = int(now.timestamp() * 1000)
    return store.record_execution(
        pipeline_name=str(push.properties.get("pipeline_name", "")), run_id=push.run_id, node_id=NODE_ID,
        type_name=ROLLBACK_TYPE, state=ExecutionState.COMPLETE, inputs=inputs, outputs={},
        properties={"model_name": name, "to": str(to) if to is not None else "latest", "before": before,
                    "reason": reason, "by": user or getpass.getuser(), "at": now.isoformat(timespec="seconds"),
                    "serving_dir": serving_dir, "forced": int(force), "start_ms": start_ms, "end_ms": start_ms},
    )
