"""Executes one pipeline node inside a run: resolve, consult the cache, run, publish, record.

Shared by every orchestrator: the local runner calls it from worker threads, the Kubeflow and
Airflow tasks call it through ``python -m penstock run-node``. Each execution writes its outputs
under prefixes of its own on the pipeline root (``penstock.storage.staging``: on a disk or an
object store alike, nothing is renamed); the artifacts are recorded in ML Metadata, LIVE, in the
same transaction that completes the execution, which is the commit point. A process killed
mid-write therefore leaves a RUNNING execution, files no LIVE artifact points at (removed by
``--resume`` and ``penstock gc``) and no artifact at all.

Every other way an execution can end is recorded: an exception (FAILED, retried only when
``faults.is_retryable``), ``sys.exit``/``os._exit`` in the component (FAILED, ``faults``), a
metadata write that fails (the outputs are discarded, FAILED recorded once the store accepts it),
and :meth:`NodeExecutor.cancel` (a signal: CANCELED with the reason, files discarded; the thread
still running the component records nothing when it returns).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from penstock import _env
from penstock.beam.pipeline import runner_name, workers_share_local_disk
from penstock.dsl.artifact import Artifact, ArtifactState
from penstock.dsl.component import Component, Node
from penstock.dsl.conditional import unmet_condition
from penstock.dsl.pipeline import Pipeline
from penstock.dsl.resolver import Resolver
from penstock.errors import MetadataError, PenstockError, ValidationGateError
from penstock.metadata.states import SUCCEEDED, ExecutionState
from penstock.metadata.store import ExecutionRecord, MetadataStore, now_ms
from penstock.runtime import faults, liveness
from penstock.runtime.cache_key import CacheKey
from penstock.runtime.context import ExecutorContext
from penstock.runtime.user_code import describe_user_exception, fingerprint_files, source_file_of_ref
from penstock.runtime.workers.host import ExecutorHost
from penstock.storage import filesystem, layout, staging

COMPLETE, CACHED, FAILED = ExecutionState.COMPLETE, ExecutionState.CACHED, ExecutionState.FAILED
CANCELED = ExecutionState.CANCELED


@dataclasses.dataclass
class NodeOutcome:
    node_id: str
    state: ExecutionState
    outputs: dict[str, list[Artifact]] = dataclasses.field(default_factory=dict)
    execution_id: int | None = None
    error: str | None = None
    duration_s: float = 0.0
    cache_decision: str = ""
    attempts: int = 0
    retryable: bool = False  # see penstock.runtime.faults.is_retryable

    @property
    def succeeded(self) -> bool:
        return self.state in SUCCEEDED


class NodeExecutor:
    """Runs nodes of one pipeline run. Thread-safe: the store serializes metadata access."""

    def __init__(
        self,
        store: MetadataStore,
        pipeline: Pipeline,
        run_id: str,
        *,
        enable_cache: bool = True,
        on_attempt_failed: Callable[[str, int, str], None] | None = None,
        defer_cached_records: bool = False,
        preload: bool = True,
        host: ExecutorHost | None = None,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.run_id = run_id
        self.enable_cache = enable_cache and pipeline.enable_cache
        self.on_attempt_failed = on_attempt_failed
        self.defer_cached_records = defer_cached_records
        self.preload = preload  # off in a process that runs one node: there are no later components
        self.host = host  # where executors may run besides this process (penstock.runtime.workers)
        self._deferred: list[dict[str, Any]] = []
        self._history_index: dict[str, list[ExecutionRecord]] | None = None
        self._lock = threading.Lock()
        self._preload_started = False
        # Executions recorded RUNNING and not yet ended, by id: what cancel() ends.
        self._open: dict[int, tuple[Component, staging.ExecutionFiles | None]] = {}
        self.canceled: str | None = None  # the reason, once cancel() ran

    def cancel(self, reason: str) -> list[str]:
        """End every execution still running as CANCELED with ``reason``, remove what it wrote,
        and start no other: for a run stopped by a signal while components run in threads that
        cannot be interrupted. Returns the ids of the components canceled."""
        with self._lock:
            self.canceled = reason
            open_executions, self._open = self._open, {}
            for execution_id, (node, files) in open_executions.items():
                self.store.finish_execution(
                    execution_id, pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id,
                    state=CANCELED, outputs={}, properties={"error": reason},
                )
                _discard(self.pipeline.pipeline_root, node, execution_id, files)
        return [node.id for node, _ in open_executions.values()]

    def running(self) -> list[str]:
        """Components with an execution in progress, for messages."""
        with self._lock:
            return [node.id for node, _ in self._open.values()]

    # -- entry point --------------------------------------------------------------------------
    def close(self) -> None:
        """End this run's worker processes, if any (they never outlive their run)."""
        if self.host is not None:
            self.host.close()

    def flush(self) -> None:
        """Write CACHED executions held back by ``defer_cached_records``, in one batch."""
        with self._lock:
            pending, self._deferred = self._deferred, []
        self.store.record_cached_executions(pending)

    def history(self, node_id: str) -> list[ExecutionRecord]:
        """Executions of ``node_id`` recorded before this run, oldest first (read once per run)."""
        with self._lock:
            if self._history_index is None:
                index: dict[str, list[ExecutionRecord]] = {}
                for record in sorted(self.store.pipeline_executions(self.pipeline.name), key=lambda r: r.id):
                    index.setdefault(record.component_id, []).append(record)
                self._history_index = index
            return self._history_index.get(node_id, [])

    def execute(self, node: Node, inputs: dict[str, list[Artifact]]) -> NodeOutcome:
        started = time.perf_counter()
        unmet = unmet_condition(node.conditions, node.inputs, inputs) if node.conditions else None
        if unmet is not None:
            outcome = self._skip_by_condition(node, inputs, unmet)
        elif isinstance(node, Resolver):
            outcome = self._resolve(node, inputs)
        elif isinstance(node, Component):
            outcome = self._run_component(node, inputs)
        else:  # pragma: no cover - Pipeline validation admits only these
            raise TypeError(f"cannot execute {node!r}")
        outcome.duration_s = time.perf_counter() - started
        return outcome

    def _skip_by_condition(self, node: Node, inputs: dict[str, list[Artifact]], condition: str) -> NodeOutcome:
        """Record a node whose ``Cond`` does not hold: not run, not a failure (TFX's semantics)."""
        reason = f"skipped: condition {condition} is false"
        execution_id = self.record_skip(node, reason, inputs)
        return NodeOutcome(node.id, ExecutionState.SKIPPED, execution_id=execution_id, cache_decision=reason)

    def record_skip(self, node: Node, reason: str, inputs: dict[str, list[Artifact]] | None = None) -> int:
        """A CANCELED execution marked ``skipped_by_condition``: what task-per-node orchestrators
        read to skip the nodes downstream."""
        now = now_ms()
        return self.store.record_execution(
            pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id, type_name=node.type_name,
            state=ExecutionState.CANCELED, inputs=inputs or {}, outputs={},
            properties={"start_ms": now, "end_ms": now, "cache_decision": reason, "skipped_by_condition": 1},
        )

    # -- resolvers ----------------------------------------------------------------------------
    def _resolve(self, node: Resolver, inputs: dict[str, list[Artifact]]) -> NodeOutcome:
        started_ms = now_ms()
        candidates: dict[str, list[Artifact]] = {}
        for key, channel in node.inputs.items():
            if channel.producer is None:
                candidates[key] = self.store.live_artifacts_of_type(self.pipeline.name, channel.type)
            else:
                candidates[key] = inputs.get(key, [])
        resolved = node.strategy.resolve(self.store, candidates)
        execution_id = self.store.record_execution(
            pipeline_name=self.pipeline.name,
            run_id=self.run_id,
            node_id=node.id,
            type_name=node.type_name,
            state=COMPLETE,
            inputs=resolved,
            outputs={},
            properties={"start_ms": started_ms, "end_ms": now_ms(), "resolved": {k: [a.id for a in v] for k, v in resolved.items()}},
        )
        return NodeOutcome(node.id, COMPLETE, resolved, execution_id, cache_decision="resolver: never cached")

    # -- cache ----------------------------------------------------------------------------------
    def cache_key(self, node: Component, inputs: dict[str, list[Artifact]]) -> CacheKey:
        policy = node.cache_policy
        code: dict[str, str] = {}
        if policy.include_user_code:
            code = fingerprint_files([source_file_of_ref(ref) for ref in node.user_code_refs()])
        beam_args = policy.relevant_beam_args(self.beam_args(node)) if node.USES_BEAM else []
        return CacheKey(
            component_type=node.type_name,
            component_version=node.VERSION,
            parameters=node.parameters,
            input_artifact_ids={
                k: [a.id for a in v if a.id is not None] for k, v in sorted(node.cache_inputs(inputs).items())
            },
            user_code=code,
            beam_args=beam_args,
            external_inputs=node.external_inputs(),
        )

    def beam_args(self, node: Component) -> list[str]:
        return list(node.beam_pipeline_args if node.beam_pipeline_args is not None else self.pipeline.beam_pipeline_args)

    def _find_cached(self, node: Component, key: CacheKey) -> tuple[int, dict[str, Artifact]] | None:
        for record in reversed(self.history(node.id)):
            if record.state not in (COMPLETE, CACHED) or record.properties.get("cache_key") != key.digest:
                continue
            _, outputs = self.store.execution_artifacts(record.id)
            flat = {k: v[0] for k, v in outputs.items() if v}
            usable = set(flat) == set(node.SPEC.outputs) and all(
                a.state is ArtifactState.LIVE and filesystem.exists(a.uri) for a in flat.values()
            )
            if usable:
                return record.id, flat
        return None

    def _miss_reason(self, node: Component, key: CacheKey) -> str:
        history = [r for r in self.history(node.id) if r.cache_key_json and r.state in (COMPLETE, CACHED)]
        if not history:
            return "miss: no earlier successful execution of this component"
        latest = history[-1]
        reasons = key.differences(CacheKey.from_json(latest.cache_key_json or "{}"))
        if not reasons:
            return f"miss: the outputs of execution {latest.id} are no longer available"
        return f"miss (vs execution {latest.id}): " + "; ".join(reasons)

    # -- components -----------------------------------------------------------------------------
    def _run_component(self, node: Component, inputs: dict[str, list[Artifact]]) -> NodeOutcome:
        started_ms = now_ms()
        try:
            key = self.cache_key(node, inputs)
        except PenstockError as e:
            return self._record_failure(node, inputs, str(e))
        base_props = {"cache_key": key.digest, "cache_key_json": key.to_json(), "parameters": node.parameters}
        if self.enable_cache and node.cache_policy.enabled:
            hit = self._find_cached(node, key)
            if hit is not None:
                source_id, outputs = hit
                decision = f"hit: reused the outputs of execution {source_id}"
                record = dict(
                    pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id,
                    type_name=node.type_name, inputs=inputs, outputs=outputs,
                    properties={**base_props, "cache_decision": decision, "start_ms": started_ms, "end_ms": now_ms(),
                                "cached_from": source_id},
                )
                execution_id = None
                if self.defer_cached_records:
                    with self._lock:
                        self._deferred.append(record)
                else:
                    execution_id = self.store.record_execution(state=CACHED, **record)  # type: ignore[arg-type]
                return NodeOutcome(node.id, CACHED, {k: [a] for k, a in outputs.items()}, execution_id, cache_decision=decision)
            decision = self._miss_reason(node, key)
        else:
            decision = "disabled: " + ("caching is off for this run" if not self.enable_cache else "caching is off for this component")

        self._preload(node)
        policy = node.retry_policy
        wait = policy.backoff_seconds
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(node, inputs, {**base_props, "cache_decision": decision, "attempt": attempt})
            outcome.attempts = attempt
            outcome.cache_decision = decision
            if not (outcome.retryable and attempt < policy.max_attempts) or self.canceled:
                return outcome
            if self.on_attempt_failed:
                self.on_attempt_failed(node.id, attempt, outcome.error or "")
            time.sleep(wait)
            wait = min(wait * policy.backoff_multiplier, policy.max_backoff_seconds)

    def _preload(self, first: Component) -> None:
        """On the run's first execution, start the worker process that imports what the heavy
        components need (they then run there), or else import it here in the background (the
        first component imports its own modules itself)."""
        with self._lock:
            if self._preload_started or not self.preload:
                return
            self._preload_started = True
            from penstock.runtime.preload import start_preloading

            components = [n for n in self.pipeline.order if isinstance(n, Component)]
            heavy = [m for n in components for m in n.HEAVY_MODULES]
            if self.host is not None and any(
                self.host.could_accept(n, runner_name(self.beam_args(n)), self.pipeline.pipeline_root)
                for n in components
            ) and self.host.start(heavy):
                return
            start_preloading([m for m in heavy if m not in first.HEAVY_MODULES])

    def _record_failure(self, node: Component, inputs: dict[str, list[Artifact]], error: str) -> NodeOutcome:
        execution_id = self.store.record_execution(
            pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id, type_name=node.type_name,
            state=FAILED, inputs=inputs, outputs={}, properties={"error": error, "end_ms": now_ms()},
        )
        return NodeOutcome(node.id, FAILED, execution_id=execution_id, error=error)

    def _attempt(self, node: Component, inputs: dict[str, list[Artifact]], props: dict[str, Any]) -> NodeOutcome:
        with self._lock:  # a canceled run starts nothing; a started execution is always open
            if self.canceled:
                return NodeOutcome(node.id, CANCELED, error=self.canceled)
            execution_id = self.store.record_execution(
                pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id, type_name=node.type_name,
                state=ExecutionState.RUNNING, inputs=inputs, outputs={}, properties={**props, **liveness.identity()},
            )
            self._open[execution_id] = (node, None)
        beam_args = self.beam_args(node)
        try:
            files = staging.prepare(
                component_id=node.id, output_types={k: spec.type for k, spec in node.SPEC.outputs.items()},
                inputs=inputs, file_access=node.FILE_ACCESS, execution_id=execution_id,
                pipeline_root=self.pipeline.pipeline_root,
                workers_share_disk=not node.USES_BEAM or workers_share_local_disk(beam_args),
                runner=runner_name(beam_args),
            )
        except PenstockError as e:  # nothing was written: a wrong root or runner is a user mistake
            return self._end_failed(node, execution_id, props, _message(node, e), retryable=False)
        except Exception as e:  # a store that cannot be reached right now: worth another attempt
            return self._end_failed(node, execution_id, props, f"storage: {type(e).__name__}: {e}", retryable=True)
        with self._lock:
            if execution_id in self._open:
                self._open[execution_id] = (node, files)

        error: str | None = None
        retryable = False
        gate: ValidationGateError | None = None
        try:
            ctx = ExecutorContext(
                pipeline_name=self.pipeline.name, run_id=self.run_id, component_id=node.id,
                execution_id=execution_id, inputs=files.executor_inputs(inputs), outputs=files.executor_outputs(),
                parameters=dict(node.parameters), beam_pipeline_args=beam_args, tmp_dir=files.scratch,
                pipeline_root=self.pipeline.pipeline_root, metadata_config=self.store.config,
                temp_uri=files.temp_uri,
            )
            try:
                _env.use_keras_2()  # before the executor can import TensorFlow
                if self.host is not None and self.host.accepts(node, ctx, runner_name(beam_args)):
                    self.host.execute(node, ctx)
                else:
                    with faults.component_exits_contained():
                        node.executor_fn()(ctx)
            except ValidationGateError as e:  # the outputs (the anomalies) are kept and recorded
                gate = e
            files.publish()  # inside: a failure to publish fails (and may retry) the attempt
        except PenstockError as e:
            error, retryable = _message(node, e), faults.is_retryable(e)
            props["traceback"] = traceback.format_exc()[-8000:]
        except SystemExit as e:  # sys.exit() or os._exit() in the component: its own bug
            error = faults.describe_exit(e)
            props["traceback"] = traceback.format_exc()[-8000:]
        except Exception as e:
            error, retryable = describe_user_exception(e), faults.is_retryable(e)
            props["traceback"] = traceback.format_exc()[-8000:]
        finally:
            files.cleanup()
        props.update(files.properties())

        if error is not None:
            return self._end_failed(node, execution_id, props, error, retryable=retryable)

        outputs = files.outputs
        for artifact in outputs.values():
            artifact.state = ArtifactState.LIVE
        state = FAILED if gate is not None else COMPLETE
        final_props = {**props, "error": _message(node, gate)} if gate is not None else props
        with self._lock:
            if execution_id not in self._open:  # canceled while the component ran
                files.discard()
                return NodeOutcome(node.id, CANCELED, execution_id=execution_id, error=self.canceled)
            try:
                self.store.finish_execution(
                    execution_id, pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id,
                    state=state, outputs=outputs, properties=final_props,
                )
            except MetadataError as e:
                # Not recorded, so not LIVE: the files go, and the failure is recorded if the
                # store takes it now (a full disk may have been freed by that very discard).
                for artifact in outputs.values():
                    artifact.state, artifact.id = ArtifactState.PENDING, None
                del self._open[execution_id]
                files.discard()
                self._try_record_failure(node, execution_id, props, str(e))
                return NodeOutcome(node.id, FAILED, execution_id=execution_id, error=str(e))
            del self._open[execution_id]
        published = {k: [a] for k, a in outputs.items()}
        if gate is not None:
            return NodeOutcome(node.id, FAILED, published, execution_id, error=_message(node, gate))
        return NodeOutcome(node.id, COMPLETE, published, execution_id)

    def _end_failed(self, node: Component, execution_id: int, props: dict[str, Any], error: str, *,
                    retryable: bool) -> NodeOutcome:
        """Record a failed attempt and remove its files, unless cancel() ended it first."""
        with self._lock:
            entry = self._open.pop(execution_id, None)
            if entry is None:
                return NodeOutcome(node.id, CANCELED, execution_id=execution_id, error=self.canceled)
            _discard(self.pipeline.pipeline_root, node, execution_id, entry[1])
            try:
                return self._finish_failed(node, execution_id, props, error, retryable=retryable)
            except MetadataError as e:
                return NodeOutcome(node.id, FAILED, execution_id=execution_id, error=f"{error} (and {e})")

    def _try_record_failure(self, node: Component, execution_id: int, props: dict[str, Any], error: str) -> None:
        try:
            self._finish_failed(node, execution_id, props, error, retryable=False)
        except MetadataError:  # still refused: the run's record says RUNNING until --resume
            pass

    def _finish_failed(self, node: Component, execution_id: int, props: dict[str, Any], error: str, *,
                       retryable: bool) -> NodeOutcome:
        self.store.finish_execution(
            execution_id, pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id,
            state=FAILED, outputs={}, properties={**props, "error": error},
        )
        return NodeOutcome(node.id, FAILED, execution_id=execution_id, error=error, retryable=retryable)


def _message(node: Component, error: BaseException) -> str:
    """An error's text without a leading ``<component id>: `` (the execution names its
    component already; shown with the id again it read ``Evaluator: Evaluator: ...``)."""
    text = str(error)
    prefix = f"{node.id}: "
    while text.startswith(prefix):
        text = text[len(prefix):]
    return text


def _discard(pipeline_root: str, node: Component, execution_id: int, files: staging.ExecutionFiles | None) -> None:
    if files is not None:
        files.discard()
    else:  # ended before its files were prepared: whatever prepare() may have created
        staging.discard_execution(pipeline_root, execution_id,
                                  [layout.output_uri(pipeline_root, node.id, key, execution_id) for key in node.SPEC.outputs])


def inputs_from_outputs(node: Node, produced: dict[str, dict[str, list[Artifact]]]) -> dict[str, list[Artifact]]:
    """A node's inputs, taken from the outputs its upstream nodes produced in this run."""
    inputs: dict[str, list[Artifact]] = {}
    for key, channel in node.inputs.items():
        if channel.producer is not None and channel.output_key is not None:
            inputs[key] = list(produced.get(channel.producer.id, {}).get(channel.output_key, []))
    return inputs


def latest_outputs(
    store: MetadataStore, pipeline_name: str, node_id: str, run_id: str | None = None
) -> dict[str, list[Artifact]] | None:
    """Outputs of a node's latest successful execution (in ``run_id`` if given), or None.

    For resolvers, the artifacts they resolved."""
    for record in reversed(store.node_executions(pipeline_name, node_id)):
        if run_id is not None and record.run_id != run_id:
            continue
        if record.state not in (COMPLETE, CACHED):
            continue
        inputs, outputs = store.execution_artifacts(record.id)
        if "resolved" in record.properties:
            return inputs
        return outputs
    return None
