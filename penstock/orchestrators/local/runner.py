"""The local runner: runs a pipeline's DAG on this machine, independent components in parallel.

Unlike TFX's LocalDagRunner, which runs one component at a time, ready components are handed to
a bounded pool of worker threads (executors spend their time in TensorFlow, Beam and I/O, which
release the GIL). A failed component stops only what depends on it. ``resume`` reruns a failed
run, skipping what completed; ``from_node``/``to_node`` run part of the DAG, taking the
artifacts of components outside it from their latest successful execution.

Signals (when run from the main thread): the first SIGINT (Ctrl-C) starts nothing new, says what
it waits for, and lets the running components finish; a second SIGINT, or SIGTERM, stops at once:
the running executions are recorded CANCELED with the reason and their files removed. Either
way the run ends CANCELED, and ``--resume`` continues it. Components run in threads Python
cannot interrupt, so after a stop at once the caller (``penstock run``) ends the process.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
import secrets
import time
from typing import Any, Protocol

from penstock.dsl.artifact import Artifact
from penstock.dsl.pipeline import Pipeline
from penstock.errors import NotFoundError, PenstockError, PipelineDefinitionError
from penstock.metadata.states import ExecutionState
from penstock.metadata.store import MetadataStore, now_ms
from penstock.runtime import liveness
from penstock.runtime.interrupts import Interrupts
from penstock.runtime.node_execution import (
    NodeExecutor,
    NodeOutcome,
    inputs_from_outputs,
    latest_outputs,
)
from penstock.runtime.workers.host import ExecutorHost, mode_from_environment
from penstock.storage.staging import discard_unrecorded_outputs


class RunObserver(Protocol):
    """Receives progress events; the CLI renders them, tests may record them."""

    def node_started(self, node_id: str) -> None: ...

    def node_finished(self, outcome: NodeOutcome) -> None: ...

    def node_retrying(self, node_id: str, attempt: int, error: str) -> None: ...

    def run_stopping(self, message: str) -> None: ...


@dataclasses.dataclass
class RunResult:
    run_id: str
    pipeline_name: str
    state: ExecutionState
    outcomes: dict[str, NodeOutcome]
    duration_s: float
    signal: int = 0  # the signal that stopped the run (CANCELED), else 0

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
    def __init__(self, max_workers: int | None = None, observer: RunObserver | None = None,
                 handle_signals: bool = True, worker: str | None = None) -> None:
        self.max_workers = max_workers
        self.observer = observer
        self.handle_signals = handle_signals
        # Where heavy executors run (penstock.runtime.workers.host): default $PENSTOCK_WORKER or inline.
        self.worker = worker or mode_from_environment("inline")

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
        end_abandoned_runs(store, pipeline)
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
                             resumed=int(resumed.properties.get("resumed", 0)) + 1, **liveness.identity())
        else:
            run_id = run_id or new_run_id()
            store.begin_run(pipeline.name, run_id, [n.id for n in pipeline.order], pipeline.edges(),
                            pipeline_root=pipeline.pipeline_root)
            store.update_run(run_id, **liveness.identity())  # whose process owns the run

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
            host=ExecutorHost(self.worker),
        )
        interrupts = Interrupts()
        try:
            with interrupts.installed() if self.handle_signals else contextlib.nullcontext():
                outcomes = self._schedule(pipeline, executor, selected, reused, interrupts)
        except BaseException as e:  # never leave the run RUNNING behind an unexpected error
            with contextlib.suppress(Exception):
                store.update_run(run_id, state=ExecutionState.FAILED, end_ms=now_ms(),
                                 error=f"internal error: {type(e).__name__}: {e}")
            raise
        finally:
            try:
                executor.flush()
            finally:
                executor.close()  # the run's worker processes end with it, whatever flush did
        state, error = _run_state(outcomes, interrupts)
        store.update_run(run_id, state=state, end_ms=now_ms(), error=error)
        return RunResult(run_id, pipeline.name, state, outcomes, time.perf_counter() - started,
                         signal=interrupts.signal if state == ExecutionState.CANCELED else 0)

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
                _end_interrupted(store, pipeline, record, "interrupted: the process ended mid-execution")
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
        interrupts: Interrupts,
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
        started: dict[str, float] = {}
        announced = False
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="penstock")
        try:
            while todo or running:
                if interrupts.cancel_reason:
                    self._cancel(executor, interrupts.cancel_reason, running, todo, outcomes)
                    break
                if interrupts.stop_reason:
                    if not announced:
                        announced = True
                        self._announce_stop(interrupts.stop_reason, sorted(running.values()), started)
                    for node in todo:
                        outcomes[node.id] = NodeOutcome(node.id, ExecutionState.SKIPPED,
                                                        error=f"not run: {interrupts.stop_reason}")
                    todo.clear()
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
                        started[node.id] = time.perf_counter()
                if not running:
                    for node in todo:  # unreachable with a validated DAG; never spin forever
                        outcomes[node.id] = NodeOutcome(node.id, ExecutionState.SKIPPED, error="not run: inputs unavailable")
                    todo.clear()
                    continue
                # A signal handler cannot wake this wait: look at the flags twice a second.
                done, _ = concurrent.futures.wait(running, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    nid = running.pop(future)
                    try:
                        outcome = future.result()
                    except PenstockError as e:  # e.g. the store refused to record the execution
                        outcome = NodeOutcome(nid, ExecutionState.FAILED, error=str(e))
                    except Exception as e:
                        outcome = NodeOutcome(nid, ExecutionState.FAILED, error=f"internal error: {type(e).__name__}: {e}")
                    outcomes[nid] = outcome
                    if outcome.succeeded:
                        produced[nid] = outcome.outputs
                        settled.add(nid)
                    if self.observer:
                        self.observer.node_finished(outcome)
        finally:
            # After a cancel the components' threads run on, unrecorded: do not wait for them.
            pool.shutdown(wait=not interrupts.cancel_reason, cancel_futures=True)
        return outcomes

    def _announce_stop(self, reason: str, running: list[str], started: dict[str, float]) -> None:
        if self.observer is None or not hasattr(self.observer, "run_stopping"):
            return
        if running:
            now = time.perf_counter()
            waiting = ", ".join(f"{nid} (running {now - started[nid]:.0f} s)" for nid in running)
            message = (f"{reason}: starting nothing new; waiting for {waiting} to finish. "
                       "Press Ctrl-C again to stop now (recorded CANCELED).")
        else:
            message = f"{reason}: starting nothing new."
        self.observer.run_stopping(message)

    def _cancel(self, executor: NodeExecutor, reason: str, running: dict[concurrent.futures.Future[NodeOutcome], str],
                todo: list[Any], outcomes: dict[str, NodeOutcome]) -> None:
        if self.observer is not None and hasattr(self.observer, "run_stopping"):
            self.observer.run_stopping(f"{reason}: stopping now")
        executor.cancel(reason)
        for future, nid in running.items():
            if future.done() and not future.exception():
                outcome = future.result()  # finished just before the cancel: keep its record
            else:
                outcome = NodeOutcome(nid, ExecutionState.CANCELED, error=reason)
            outcomes[nid] = outcome
            if self.observer:
                self.observer.node_finished(outcome)
        running.clear()
        for node in todo:
            outcomes[node.id] = NodeOutcome(node.id, ExecutionState.SKIPPED, error=f"not run: {reason}")
        todo.clear()


def end_abandoned_runs(store: MetadataStore, pipeline: Pipeline) -> None:
    """Record as FAILED the runs of ``pipeline`` still RUNNING whose process on this host is gone
    (killed outright, crashed), with their executions of that process, and remove those
    executions' files: what SIGKILL or a crash in native code could not record."""
    for run in store.list_runs(pipeline.name):
        if run.state != ExecutionState.RUNNING or not liveness.process_gone(run.properties):
            continue
        reason = liveness.describe_gone(run.properties)
        for record in store.run_executions(run.run_id):
            if record.state == ExecutionState.RUNNING and liveness.process_gone(record.properties):
                _end_interrupted(store, pipeline, record, reason)
        store.update_run(run.run_id, state=ExecutionState.FAILED, end_ms=now_ms(), error=reason)


def _end_interrupted(store: MetadataStore, pipeline: Pipeline, record: Any, reason: str) -> None:
    store.finish_execution(record.id, pipeline_name=pipeline.name, run_id=record.run_id, node_id=record.component_id,
                           state=ExecutionState.FAILED, outputs={}, properties={"error": reason})
    discard_unrecorded_outputs(pipeline, record)


def _run_state(outcomes: dict[str, NodeOutcome], interrupts: Interrupts) -> tuple[ExecutionState, str]:
    """The run's final state and the reason recorded with it."""
    failed = [f"{nid}: {o.error}" for nid, o in outcomes.items() if o.state == ExecutionState.FAILED]
    reason = interrupts.cancel_reason or interrupts.stop_reason
    if reason:
        return ExecutionState.CANCELED, "; ".join([reason, *failed])
    # A node skipped because its Cond did not hold (no error) is no failure.
    if failed or any(o.state == ExecutionState.SKIPPED and o.error for o in outcomes.values()):
        return ExecutionState.FAILED, failed[0] if failed else ""
    return ExecutionState.COMPLETE, ""
