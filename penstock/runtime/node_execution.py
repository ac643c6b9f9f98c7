"""Executes one pipeline node inside a run: resolve, consult the cache, run, publish, record.

Shared by every orchestrator: the local runner calls it from worker threads, the Kubeflow and
Airflow tasks call it through ``python -m penstock run-node``. Each execution writes its outputs
under prefixes of its own on the pipeline root (``penstock.storage.staging``: on a disk or an
object store alike, nothing is renamed); the artifacts are recorded in ML Metadata, LIVE, in the
same transaction that completes the execution, which is the commit point. A process killed
mid-write therefore leaves a RUNNING execution, files no LIVE artifact points at (removed by
``--resume`` and ``penstock gc``) and no artifact at all.
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
from penstock.errors import ExecutionError, PenstockError, StorageError, ValidationGateError
from penstock.metadata.states import SUCCEEDED, ExecutionState
from penstock.metadata.store import ExecutionRecord, MetadataStore, now_ms
from penstock.runtime.cache_key import CacheKey
from penstock.runtime.context import ExecutorContext
from penstock.runtime.user_code import describe_user_exception, fingerprint_files, source_file_of_ref
from penstock.storage import filesystem, staging

COMPLETE, CACHED, FAILED = ExecutionState.COMPLETE, ExecutionState.CACHED, ExecutionState.FAILED


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
    retryable: bool = False  # a runtime failure; user mistakes are never retried

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
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.run_id = run_id
        self.enable_cache = enable_cache and pipeline.enable_cache
        self.on_attempt_failed = on_attempt_failed
        self.defer_cached_records = defer_cached_records
        self._deferred: list[dict[str, Any]] = []
        self._history_index: dict[str, list[ExecutionRecord]] | None = None
        self._lock = threading.Lock()
        self._preloading: threading.Thread | None = None

    # -- entry point --------------------------------------------------------------------------
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
            if not (outcome.retryable and attempt < policy.max_attempts):
                return outcome
            if self.on_attempt_failed:
                self.on_attempt_failed(node.id, attempt, outcome.error or "")
            time.sleep(wait)
            wait = min(wait * policy.backoff_multiplier, policy.max_backoff_seconds)

    def _preload(self, first: Component) -> None:
        """On the run's first execution, import what later components need in the background
        (the first component imports its own modules itself)."""
        with self._lock:
            if self._preloading is not None:
                return
            from penstock.runtime.preload import start_preloading

            modules = [
                m for n in self.pipeline.order if isinstance(n, Component) for m in n.HEAVY_MODULES
                if m not in first.HEAVY_MODULES
            ]
            self._preloading = start_preloading(modules)

    def _record_failure(self, node: Component, inputs: dict[str, list[Artifact]], error: str) -> NodeOutcome:
        execution_id = self.store.record_execution(
            pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id, type_name=node.type_name,
            state=FAILED, inputs=inputs, outputs={}, properties={"error": error, "end_ms": now_ms()},
        )
        return NodeOutcome(node.id, FAILED, execution_id=execution_id, error=error)

    def _attempt(self, node: Component, inputs: dict[str, list[Artifact]], props: dict[str, Any]) -> NodeOutcome:
        execution_id = self.store.record_execution(
            pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id,
            type_name=node.type_name, state=ExecutionState.RUNNING, inputs=inputs, outputs={}, properties=props,
        )
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
            return self._finish_failed(node, execution_id, props, str(e), retryable=False)
        except Exception as e:  # a store that cannot be reached right now: worth another attempt
            return self._finish_failed(node, execution_id, props, f"storage: {type(e).__name__}: {e}", retryable=True)

        error: str | None = None
        user_error = False
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
                node.executor_fn()(ctx)
            except ValidationGateError as e:  # the outputs (the anomalies) are kept and recorded
                gate = e
            files.publish()
        except PenstockError as e:
            error, user_error = str(e), not isinstance(e, (ExecutionError, StorageError))
            props["traceback"] = traceback.format_exc()[-8000:]
        except Exception as e:
            error = describe_user_exception(e)
            props["traceback"] = traceback.format_exc()[-8000:]
        finally:
            files.cleanup()
        props.update(files.properties())

        if error is not None:
            files.discard()
            return self._finish_failed(node, execution_id, props, error, retryable=not user_error)

        outputs = files.outputs
        for artifact in outputs.values():
            artifact.state = ArtifactState.LIVE
        state = FAILED if gate is not None else COMPLETE
        final_props = {**props, "error": str(gate)} if gate is not None else props
        self.store.finish_execution(
            execution_id, pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id,
            state=state, outputs=outputs, properties=final_props,
        )
        published = {k: [a] for k, a in outputs.items()}
        if gate is not None:
            return NodeOutcome(node.id, FAILED, published, execution_id, error=str(gate))
        return NodeOutcome(node.id, COMPLETE, published, execution_id)

    def _finish_failed(self, node: Component, execution_id: int, props: dict[str, Any], error: str, *,
                       retryable: bool) -> NodeOutcome:
        self.store.finish_execution(
            execution_id, pipeline_name=self.pipeline.name, run_id=self.run_id, node_id=node.id,
            state=FAILED, outputs={}, properties={**props, "error": error},
        )
        return NodeOutcome(node.id, FAILED, execution_id=execution_id, error=error, retryable=retryable)


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
