"""The local runner: runs a pipeline's DAG on this machine, independent components in parallel.

Unlike TFX's LocalDagRunner, which runs one component at a time, ready components are handed to
a bounded pool of worker threads (executors spend their time in TensorFlow, Beam and I/O, which
release the GIL). A failed component stops only what depends on it. ``resume`` reruns a failed
run, skipping what completed; ``from_node``/``to_node`` run part of the DAG, taking the
artifacts of components outside it from their latest successful execution.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import secrets
import time
from typing import Protocol

from penstock.dsl.artifact import Artifact
from penstock.dsl.pipeline import Pipeline
from penstock.errors import NotFoundError, PipelineDefinitionError
from penstock.metadata.states import ExecutionState
from penstock.metadata.store import MetadataStore, now_ms
from penstock.runtime.node_execution import (
    NodeExecutor,
    NodeOutcome,
    inputs_from_outputs,
    latest_outputs,
)
from penstock.storage.staging import discard_unrecorded_outputs


class RunObserver(Protocol):
    """Receives progress events; the CLI renders them, tests may record them."""

    def node_started(self, node_id: str) -> None: ...

    def node_finished(self, outcome: NodeOutcome) -> None: ...

    def node_retrying(self, node_id: str, attempt: int, error: str) -> None: ...


@dataclasses.dataclass
class RunResult:
    run_id: str
    pipeline_name: str
    state: ExecutionState
    outcomes: dict[str, NodeOutcome]
    duration_s: float

    @property
    def succeeded(self) -> bool:
        return self.state == ExecutionState.COMPLETE

    @property
    def outputs(self) -> dict[str, dict[str, Artifact]]:
        """``outputs[component_id][key]``: the (first) artifact of each output."""
        return {nid: {k: v[0] for k, v in o.outputs.items() if v} for nid, o in self.outcomes.items()}

    @property
    def errors(self) -> dict[str, str]:
        return {nid: o.error for nid, o in self.outcomes.items() if o.error}


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def default_parallelism() -> int:
    return max(2, min(8, (os.cpu_count() or 2) * 2))


class LocalRunner:
    def __init__(self, max_workers: int | None = None, observer: RunObserver | None = None) -> None:
        self.max_workers = max_workers
        self.observer = observer

    def run(
        self,
        pipeline: Pipeline,
        *,
        run_id: str | None = None,
        resume: bool | str = False,
        from_node: str | None = None,
        to_node: str | None = None,
        enable_cache: bool = True,
        store: MetadataStore | None = None,
    ) -> RunResult:
        store = store or MetadataStore(pipeline.metadata)
        started = time.perf_counter()
        selected = self._select(pipeline, from_node, to_node)
        reused: dict[str, dict[str, list[Artifact]]] = {}

        if resume:
            resumed = store.latest_run(pipeline.name) if resume is True else store.get_run(str(resume))
            if resumed.pipeline_name != pipeline.name:
                raise PipelineDefinitionError(
                    f"run {resumed.run_id} belongs to pipeline {resumed.pipeline_name!r}, not {pipeline.name!r}"
                )
            run_id = resumed.run_id
            reused = self._completed_in_run(store, pipeline, run_id)
            store.update_run(run_id, state=ExecutionState.RUNNING, error="", end_ms=0,
                             resumed=int(resumed.properties.get("resumed", 0)) + 1)
        else:
            run_id = run_id or new_run_id()
            store.begin_run(pipeline.name, run_id, [n.id for n in pipeline.order], pipeline.edges(),
                        pipeline_root=pipeline.pipeline_root)

        # Components outside a partial run contribute the outputs of their latest success.
        for node in pipeline.order:
            if node.id not in selected and node.id not in reused:
                outputs = latest_outputs(store, pipeline.name, node.id)
                if outputs is None and node.id in self._needed_upstream(pipeline, selected):
                    store.update_run(run_id, state=ExecutionState.FAILED, end_ms=now_ms(),
                                     error=f"{node.id} has never completed")
                    raise PipelineDefinitionError(
                        f"cannot start at {from_node!r}: upstream component {node.id!r} has never completed; "
                        "run the whole pipeline once first"
                    )
                if outputs is not None:
                    reused[node.id] = outputs

        executor = NodeExecutor(
            store, pipeline, run_id, enable_cache=enable_cache, defer_cached_records=True,
            on_attempt_failed=self.observer.node_retrying if self.observer else None,
        )
        try:
            outcomes = self._schedule(pipeline, executor, selected, reused)
        finally:
            executor.flush()
        # A node skipped because its Cond did not hold (no error) is no failure.
        failed = {nid: o for nid, o in outcomes.items()
                  if o.state == ExecutionState.FAILED or (o.state == ExecutionState.SKIPPED and o.error)}
        state = ExecutionState.FAILED if failed else ExecutionState.COMPLETE
        first_error = next((f"{nid}: {o.error}" for nid, o in outcomes.items() if o.state == ExecutionState.FAILED), "")
        store.update_run(run_id, state=state, end_ms=now_ms(), error=first_error)
        return RunResult(run_id, pipeline.name, state, outcomes, time.perf_counter() - started)

    # -- selection ------------------------------------------------------------------------------
    @staticmethod
    def _select(pipeline: Pipeline, from_node: str | None, to_node: str | None) -> set[str]:
        selected = {n.id for n in pipeline.components}
        if from_node:
            pipeline.node(from_node)
            selected &= {from_node} | pipeline.downstream_of(from_node)
        if to_node:
            pipeline.node(to_node)
            selected &= {to_node} | pipeline.upstream_of(to_node)
        if not selected:
            raise PipelineDefinitionError(f"--from {from_node} and --to {to_node} select no component")
        return selected

    @staticmethod
    def _needed_upstream(pipeline: Pipeline, selected: set[str]) -> set[str]:
        needed: set[str] = set()
        for nid in selected:
            needed |= {u.id for u in pipeline.node(nid).upstream_nodes()}
        return needed - selected

    @staticmethod
    def _completed_in_run(store: MetadataStore, pipeline: Pipeline, run_id: str) -> dict[str, dict[str, list[Artifact]]]:
        """Outputs of the nodes that succeeded in ``run_id``; stale RUNNING executions (a killed
        process) are marked FAILED so the history tells the truth."""
        done: dict[str, dict[str, list[Artifact]]] = {}
        try:
            records = store.run_executions(run_id)
        except NotFoundError:
            return done
        for record in records:
            if record.state == ExecutionState.RUNNING:
                store.finish_execution(
                    record.id, pipeline_name=pipeline.name, run_id=run_id, node_id=record.component_id,
                    state=ExecutionState.FAILED, outputs={}, properties={"error": "interrupted: the process ended mid-execution"},
                )
                discard_unrecorded_outputs(pipeline, record)
        for node in pipeline.order:
            outputs = latest_outputs(store, pipeline.name, node.id, run_id=run_id)
            if outputs is not None:
                done[node.id] = outputs
        return done

    # -- scheduling ------------------------------------------------------------------------------
    def _schedule(
        self,
        pipeline: Pipeline,
        executor: NodeExecutor,
        selected: set[str],
        reused: dict[str, dict[str, list[Artifact]]],
    ) -> dict[str, NodeOutcome]:
        outcomes: dict[str, NodeOutcome] = {}
        produced: dict[str, dict[str, list[Artifact]]] = {}
        for nid, outputs in reused.items():
            produced[nid] = outputs
            if nid in selected:
                outcomes[nid] = NodeOutcome(nid, ExecutionState.REUSED, outputs, cache_decision="resumed: completed earlier in this run")
        todo = [n for n in pipeline.order if n.id in selected and n.id not in outcomes]
        settled = set(produced)  # nodes whose outputs are available
        workers = self.max_workers or pipeline.max_parallelism or default_parallelism()
        running: dict[concurrent.futures.Future[NodeOutcome], str] = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="penstock") as pool:
            while todo or running:
                for node in list(todo):
                    upstream = {u.id for u in node.upstream_nodes()}
                    blocked = [u for u in upstream if u in outcomes and not outcomes[u].succeeded]
                    if blocked:
                        todo.remove(node)
                        failed_upstream = sorted(u for u in blocked if outcomes[u].error)
                        outcome = NodeOutcome(
                            node.id, ExecutionState.SKIPPED,
                            error=f"not run: upstream {', '.join(failed_upstream)} failed" if failed_upstream else None,
                            cache_decision="" if failed_upstream else f"skipped: upstream {', '.join(sorted(blocked))} skipped by its condition",
                        )
                        outcomes[node.id] = outcome
                        if self.observer:
                            self.observer.node_finished(outcome)
                        continue
                    if upstream <= settled and len(running) < workers:
                        todo.remove(node)
                        if self.observer:
                            self.observer.node_started(node.id)
                        future = pool.submit(executor.execute, node, inputs_from_outputs(node, produced))
                        running[future] = node.id
                if not running:
                    for node in todo:  # unreachable with a validated DAG; never spin forever
                        outcomes[node.id] = NodeOutcome(node.id, ExecutionState.SKIPPED, error="not run: inputs unavailable")
                    todo.clear()
                    continue
                done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    nid = running.pop(future)
                    try:
                        outcome = future.result()
                    except Exception as e:
                        outcome = NodeOutcome(nid, ExecutionState.FAILED, error=f"internal error: {type(e).__name__}: {e}")
                    outcomes[nid] = outcome
                    if outcome.succeeded:
                        produced[nid] = outcome.outputs
                        settled.add(nid)
                    if self.observer:
                        self.observer.node_finished(outcome)
        return outcomes
