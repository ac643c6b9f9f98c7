"""``penstock gc``: remove what no LIVE artifact holds from pipeline roots.

An execution writes under prefixes of its own and commits by its LIVE record in ML Metadata
(``staging``); what a failed attempt wrote is removed at once, but a killed process leaves its
prefixes behind (``--resume`` removes those of the run it resumes). This finds the rest: under
each root, every ``<component>/<output>/<execution id>`` prefix and every ``.temp/<execution
id>`` that no LIVE artifact points at, whose execution this store knows and has ended (or whose
run has ended, or whose process on this host is gone: ``penstock.runtime.liveness``). Prefixes of executions the store does not know are reported, not removed: the
root may be shared with another store. Layouts of earlier penstock versions (``.staging``,
``.tmp``) are collected too.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable

from penstock.dsl.artifact import ArtifactState
from penstock.metadata.states import ExecutionState
from penstock.metadata.store import MetadataStore
from penstock.runtime import liveness
from penstock.storage import filesystem, layout

_SCRATCH_DIRS = (layout.TEMP_DIR, ".staging", ".tmp")


@dataclasses.dataclass
class Collection:
    removed: list[str] = dataclasses.field(default_factory=list)
    running: list[str] = dataclasses.field(default_factory=list)  # kept: their execution may still be writing
    unknown: list[str] = dataclasses.field(default_factory=list)  # kept: not this store's


def pipeline_roots(store: MetadataStore, pipeline_name: str | None = None) -> list[str]:
    """Every pipeline root the store's runs recorded."""
    return sorted({r.pipeline_root for r in store.list_runs(pipeline_name) if r.pipeline_root})


def collect(store: MetadataStore, roots: Iterable[str], *, dry_run: bool = False,
            include_running: bool = False) -> Collection:
    """Remove (unless ``dry_run``) every unrecorded execution prefix under ``roots``; those of
    executions RUNNING in runs that have not ended only with ``include_running``."""
    result = Collection()
    for root in roots:
        _collect_root(store, root, dry_run, include_running, result)
    return result


def _collect_root(store: MetadataStore, root: str, dry_run: bool, include_running: bool, result: Collection) -> None:
    candidates = list(_execution_prefixes(root))
    if not candidates:
        return
    live = {a.uri.rstrip("/") for a in store.artifacts_under(root) if a.state is ArtifactState.LIVE}
    executions = store.get_executions({execution_id for _, _, execution_id in candidates})
    run_states: dict[str, str] = {}
    for uri, component_id, execution_id in candidates:
        if uri.rstrip("/") in live:
            continue
        record = executions.get(execution_id)
        if record is None or (component_id and record.component_id != component_id):
            result.unknown.append(uri)
            continue
        # A RUNNING record whose process on this host is gone was killed: nothing writes there.
        if record.state == ExecutionState.RUNNING and not include_running and not liveness.process_gone(record.properties):
            if record.run_id not in run_states:
                try:
                    run_states[record.run_id] = store.get_run(record.run_id).state
                except Exception:  # a run context that is gone: its executions are over
                    run_states[record.run_id] = "UNKNOWN"
            if run_states[record.run_id] == ExecutionState.RUNNING:
                result.running.append(uri)
                continue
        if not dry_run:
            filesystem.delete(uri)
        result.removed.append(uri)


def _execution_prefixes(root: str) -> Iterable[tuple[str, str, int]]:
    """(uri, component id or "" for scratch space, execution id) of every execution prefix."""
    return _remote_prefixes(root) if filesystem.is_remote(root) else _local_prefixes(root)


def _remote_prefixes(root: str) -> Iterable[tuple[str, str, int]]:
    # An object store has no folders to walk: one listing of the root, read by position.
    seen: set[str] = set()
    for entry in filesystem.list_files(root):
        parts = filesystem.relative_to(entry.path, root).split("/")
        found = _classify(parts)
        if found is None:
            continue
        depth, component_id, execution_id = found
        uri = filesystem.join(root, *parts[:depth])
        if uri not in seen:
            seen.add(uri)
            yield uri, component_id, execution_id


def _local_prefixes(root: str) -> Iterable[tuple[str, str, int]]:
    # On a disk an empty output folder is still an execution's: walk three levels.
    for first in _names(root):
        if first in _SCRATCH_DIRS:
            yield from ((os.path.join(root, first, n), "", int(n)) for n in _names(os.path.join(root, first)) if n.isdigit())
        elif not first.startswith("."):
            for key in _names(os.path.join(root, first)):
                folder = os.path.join(root, first, key)
                yield from ((os.path.join(folder, n), first, int(n)) for n in _names(folder) if n.isdigit())


def _classify(parts: list[str]) -> tuple[int, str, int] | None:
    if len(parts) >= 2 and parts[0] in _SCRATCH_DIRS and parts[1].isdigit():
        return 2, "", int(parts[1])
    if len(parts) >= 4 and not parts[0].startswith(".") and parts[2].isdigit():
        return 3, parts[0], int(parts[2])
    return None


def _names(path: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)))
    except OSError:
        return []
