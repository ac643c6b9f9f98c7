"""One execution's files: where its outputs go, how its inputs are seen, how it commits.

**Commit without rename.** Each execution writes its outputs under prefixes of its own
(``layout.output_uri``: the execution id is unique in the store), never renamed afterwards:
object stores cannot rename a folder. The commit point is ML Metadata: the node executor records
the outputs LIVE in the transaction that completes the execution, and consumers only ever read
LIVE artifacts. A failed attempt's prefixes are deleted at once; a killed one's by ``--resume``
or ``penstock gc`` (``penstock.storage.gc``), which remove every prefix no LIVE artifact holds.

**Native or localised.** Before any work, every URI the execution touches is checked against
the kinds of file access the component uses (``Component.FILE_ACCESS``, see ``reach``). When all
reach all, the executor gets the URIs as they are. When one does not (a function component's
``open()`` on ``gs://``, TensorFlow against a GCS emulator, ``s3://`` without tensorflow-io), or
when a component working through TensorFlow runs on this machine (TensorFlow's object-store
filesystems are slow on the many small files tf.Transform and TFMA make), the inputs are
downloaded to local copies (once per process and artifact: artifacts are immutable once LIVE)
and the outputs written locally, then uploaded to their prefixes: KFP v2's launcher does this
for every component. penstock's own readers and writers (ExampleGen, StatisticsGen, the Pusher)
stream to and from the store directly. That needs the component's Beam workers, if any, to share this
machine's disk; otherwise the execution fails before any work with the reason. The same check
refuses a local pipeline root for workers that do not share this disk: their shards would land on
their own disks and the artifacts would be recorded empty.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from typing import Any

from penstock.dsl.artifact import Artifact
from penstock.errors import StorageError
from penstock.storage import filesystem, layout, reach
from penstock.storage.filesystem import Transfer

_log = logging.getLogger("penstock.storage")


@dataclasses.dataclass
class ExecutionFiles:
    """The files of one execution. Build with :func:`prepare`."""

    component_id: str
    execution_id: int
    pipeline_root: str
    outputs: dict[str, Artifact]  # at their final URIs
    localised: bool
    reason: str  # why localised ("" when native)
    scratch: str  # local scratch folder (removed by cleanup)
    downloaded: Transfer = dataclasses.field(default_factory=Transfer)
    uploaded: Transfer = dataclasses.field(default_factory=Transfer)
    _local_outputs: dict[str, Artifact] = dataclasses.field(default_factory=dict)

    @property
    def temp_uri(self) -> str:
        """Scratch space on the pipeline root (reachable by remote workers); removed after."""
        return layout.execution_temp_uri(self.pipeline_root, self.execution_id)

    def executor_inputs(self, inputs: dict[str, list[Artifact]]) -> dict[str, list[Artifact]]:
        """The inputs as the executor sees them: the artifacts themselves, or local copies."""
        if not self.localised:
            return inputs
        local: dict[str, list[Artifact]] = {}
        for key, artifacts in inputs.items():
            local[key] = []
            for artifact in artifacts:
                copy, moved = _local_copies.get(artifact)
                self.downloaded += moved
                local[key].append(copy)
        return local

    def executor_outputs(self) -> dict[str, Artifact]:
        """The outputs as the executor writes them: at their final URIs, or in local folders."""
        if not self.localised:
            return self.outputs
        if not self._local_outputs:
            for key, artifact in self.outputs.items():
                local = type(artifact)(os.path.join(self.scratch, "outputs", key))
                os.makedirs(local.uri)
                self._local_outputs[key] = local
        return self._local_outputs

    def publish(self) -> None:
        """After the executor returned: bring what it wrote to the final URIs (properties
        included), so the outputs can be recorded LIVE."""
        for key, artifact in self.outputs.items():
            if self.localised:
                local = self._local_outputs[key]
                self.uploaded += filesystem.copy_tree(local.uri, artifact.uri)
                artifact.properties = dict(local.properties)
                artifact.custom_properties = dict(local.custom_properties)
            if filesystem.is_remote(artifact.uri) and not filesystem.exists(artifact.uri):
                filesystem.write_bytes(filesystem.join(artifact.uri, layout.EMPTY_MARKER), b"")

    def discard(self) -> None:
        """After a failure: remove everything this execution wrote under the pipeline root."""
        discard_execution(self.pipeline_root, self.execution_id, [a.uri for a in self.outputs.values()])

    def cleanup(self) -> None:
        """Always, at the end: the scratch space (local and on the root)."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        _quietly_delete(self.temp_uri)

    def properties(self) -> dict[str, Any]:
        """What the execution record keeps about its files (shown by ``penstock show``)."""
        if not self.localised:
            return {}
        return {"storage": "localised", "storage_reason": self.reason,
                "downloaded_bytes": self.downloaded.bytes, "uploaded_bytes": self.uploaded.bytes}


def prepare(
    *,
    component_id: str,
    output_types: dict[str, type[Artifact]],
    inputs: dict[str, list[Artifact]],
    file_access: Iterable[str],
    execution_id: int,
    pipeline_root: str,
    workers_share_disk: bool,
    runner: str = "",
) -> ExecutionFiles:
    """Decide how the execution sees its files; raise StorageError (before any work) when no
    way works. ``workers_share_disk`` is False when the component's Beam workers may run on
    other machines (``runner`` names them, for the message)."""
    outputs = {
        key: cls(layout.output_uri(pipeline_root, component_id, key, execution_id)) for key, cls in output_types.items()
    }
    uris = [a.uri for artifacts in inputs.values() for a in artifacts] + [a.uri for a in outputs.values()]
    accesses = [reach.Access(a) for a in file_access]
    reason = reach.first_unreachable(accesses, uris)
    if reason is None and workers_share_disk and reach.Access.TENSORFLOW in accesses:
        remote = next((u for u in uris if filesystem.is_remote(u)), None)
        if remote is not None:
            # Measured (bench/remote_root.py): TensorFlow's object-store filesystems make a request
            # per small file and per existence check; tf.Transform and TFMA make hundreds, and ran
            # 2x slower on S3 than from local copies, which cost one download and one upload.
            reason = f"{remote}: TensorFlow reads and writes many small files, faster from local copies"
    if not workers_share_disk:
        local = [u for u in uris if not filesystem.is_remote(u)]
        if local:
            raise StorageError(
                f"{component_id}: {runner or 'this Beam runner'} runs workers that may not share this machine's disk, "
                f"but {local[0]} is a local path: their output would land on their own disks. Use an object-store "
                "pipeline root (gs://, s3://, ...) for out-of-process workers"
            )
        if reason is not None:
            raise StorageError(
                f"{component_id}: cannot run on {runner or 'this Beam runner'}: {reason}; its workers may not share "
                "this machine's disk, so penstock cannot give them local copies instead"
            )
    if reason is None:
        if reach.Access.TENSORFLOW in accesses:
            reach.prepare_tensorflow(uris)
        for artifact in outputs.values():
            filesystem.makedirs(artifact.uri)
    else:
        _log.info("%s: localising its files (%s)", component_id, reason)
    # Local scratch sits on the root when the root is a disk (what a killed process leaves is
    # then found by penstock gc), else in the temporary folder of this machine or pod.
    temp = layout.execution_temp_uri(pipeline_root, execution_id)
    if filesystem.is_remote(temp):
        scratch = tempfile.mkdtemp(prefix=f"penstock-{component_id}-{execution_id}-")
    else:
        scratch = os.path.join(temp, "local")
        os.makedirs(scratch, exist_ok=True)
    return ExecutionFiles(component_id, execution_id, pipeline_root, outputs, localised=reason is not None,
                          reason=reason or "", scratch=scratch)


def discard_execution(pipeline_root: str, execution_id: int, output_uris: Iterable[str]) -> None:
    """Remove an unrecorded execution's outputs and scratch space (best effort: what is left is
    for ``penstock gc``)."""
    for uri in [*output_uris, layout.execution_temp_uri(pipeline_root, execution_id)]:
        _quietly_delete(uri)


def discard_unrecorded_outputs(pipeline: Any, record: Any) -> None:
    """What a killed execution (``record``, now marked FAILED) of ``pipeline`` left on its root."""
    try:
        node = pipeline.node(record.component_id)
    except Exception:  # a component removed from the pipeline since: penstock gc finds its files
        return
    keys = getattr(getattr(node, "SPEC", None), "outputs", {})
    root = pipeline.pipeline_root
    discard_execution(root, record.id, [layout.output_uri(root, node.id, key, record.id) for key in keys])


def _quietly_delete(uri: str) -> None:
    try:
        filesystem.delete(uri)
    except (OSError, StorageError) as e:
        _log.warning("could not remove %s (penstock gc will): %s", uri, e)


class _LocalCopies:
    """Local copies of remote input artifacts, one per artifact per process, removed at exit."""

    def __init__(self) -> None:
        self._root: str | None = None
        self._lock = threading.Lock()
        self._artifact_locks: dict[tuple[int | None, str], threading.Lock] = {}

    def _folder(self) -> str:
        with self._lock:
            if self._root is None:
                self._root = tempfile.mkdtemp(prefix="penstock-inputs-")
                atexit.register(shutil.rmtree, self._root, True)
            return self._root

    def get(self, artifact: Artifact) -> tuple[Artifact, Transfer]:
        if not filesystem.is_remote(artifact.uri):
            return artifact, Transfer()
        key = (artifact.id, artifact.uri)
        with self._lock:
            lock = self._artifact_locks.setdefault(key, threading.Lock())
        target = os.path.join(self._folder(), f"{artifact.id or 'new'}-{abs(hash(artifact.uri)):x}")
        moved = Transfer()
        with lock:
            if not os.path.isdir(target):
                partial = f"{target}.partial"
                shutil.rmtree(partial, ignore_errors=True)
                if filesystem.exists(artifact.uri):
                    moved = filesystem.copy_tree(artifact.uri, partial)
                os.makedirs(partial, exist_ok=True)
                os.rename(partial, target)
        copy = type(artifact)(target, dict(artifact.properties), dict(artifact.custom_properties),
                              id=artifact.id, state=artifact.state, create_time_ms=artifact.create_time_ms)
        return copy, moved


_local_copies = _LocalCopies()
