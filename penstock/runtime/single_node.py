"""Run one node of a pipeline run in this process, with inputs resolved from ML Metadata.

The building block of every orchestrator that runs components as separate tasks: each task
calls this with the shared run id, so all tasks of a run land in the same ML Metadata run
context, and the run's state is kept current as tasks finish.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from penstock.dsl.artifact import Artifact
from penstock.dsl.pipeline import Pipeline
from penstock.errors import ExecutionError
from penstock.metadata import connection
from penstock.metadata.states import ExecutionState
from penstock.metadata.store import MetadataStore, now_ms
from penstock.runtime.interrupts import Interrupts
from penstock.runtime.node_execution import NodeExecutor, NodeOutcome, latest_outputs


def run_single_node(
    pipeline: Pipeline,
    node_id: str,
    run_id: str,
    *,
    metadata: str | None = None,
    pipeline_root: str | None = None,
    enable_cache: bool = True,
    max_attempts: int | None = None,
    observer: Any = None,
) -> NodeOutcome:
    if metadata:
        pipeline.metadata = connection.parse(metadata)
    if pipeline_root:
        pipeline.pipeline_root = pipeline_root
    node = pipeline.node(node_id)
    if max_attempts is not None:
        node.retry_policy = dataclasses.replace(node.retry_policy, max_attempts=max_attempts)
    store = MetadataStore(pipeline.metadata)
    store.begin_run(pipeline.name, run_id, [n.id for n in pipeline.order], pipeline.edges(),
                        pipeline_root=pipeline.pipeline_root)

    # Downstream of a node its Cond skipped (in this run): skipped too, as the local runner does.
    skipped = [u.id for u in node.upstream_nodes() if _skipped_by_condition(store, pipeline.name, u.id, run_id)]
    if skipped:
        outcome = NodeOutcome(node_id, ExecutionState.SKIPPED,
                              cache_decision=f"skipped: upstream {', '.join(skipped)} skipped by its condition")
        NodeExecutor(store, pipeline, run_id).record_skip(node, outcome.cache_decision)
        return outcome
    inputs: dict[str, list[Artifact]] = {}
    for key, channel in node.inputs.items():
        producer = channel.producer
        if producer is None or channel.output_key is None:
            continue
        produced = latest_outputs(store, pipeline.name, producer.id, run_id=run_id)
        if produced is None:
            raise ExecutionError(
                node_id, f"input {key!r}: upstream component {producer.id!r} has not completed in run {run_id}"
            )
        inputs[key] = produced.get(channel.output_key, [])

    if observer:
        observer.node_started(node_id)
    # No preloading: this process runs one node and exits, so importing the other components'
    # modules in the background only costs CPU, which parallel tasks share, and it raced this
    # node's own imports into a deadlock (two Kubeflow tasks hung in pyarrow's and TensorFlow's imports).
    executor = NodeExecutor(store, pipeline, run_id, enable_cache=enable_cache, preload=False)
    interrupts = Interrupts()
    with interrupts.installed():
        outcome = _execute_interruptibly(executor, node, inputs, interrupts, observer)
    if observer:
        observer.node_finished(outcome)
    if outcome.state == ExecutionState.CANCELED:
        store.update_run(run_id, state=ExecutionState.CANCELED, end_ms=now_ms(), error=f"{node_id}: {outcome.error}")
        return outcome

    executions = store.run_executions(run_id)
    latest_state = {}
    for record in executions:
        latest_state[record.component_id] = record.state
    if outcome.state == ExecutionState.FAILED:
        store.update_run(run_id, state=ExecutionState.FAILED, end_ms=now_ms(), error=f"{node_id}: {outcome.error}")
    elif all(latest_state.get(n.id) in (ExecutionState.COMPLETE, ExecutionState.CACHED, ExecutionState.CANCELED)
             for n in pipeline.order):
        store.update_run(run_id, state=ExecutionState.COMPLETE, end_ms=now_ms(), error="")
    return outcome


def _execute_interruptibly(executor: NodeExecutor, node: Any, inputs: dict[str, list[Artifact]],
                           interrupts: Interrupts, observer: Any) -> NodeOutcome:
    """Execute in a thread while this (main) thread watches for signals: a second Ctrl-C or a
    SIGTERM (a deleted pod, a killed Airflow task) records the execution CANCELED at once; the
    thread, which cannot be interrupted, is left to the process's end."""
    result: list[NodeOutcome] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(executor.execute(node, inputs))
        except BaseException as e:  # re-raised in the main thread
            failure.append(e)

    thread = threading.Thread(target=work, name=f"penstock-{node.id}", daemon=True)
    thread.start()
    announced = False
    while thread.is_alive():
        thread.join(0.5)  # a signal handler cannot wake a join: look at the flags twice a second
        if interrupts.cancel_reason:
            executor.cancel(interrupts.cancel_reason)
            return NodeOutcome(node.id, ExecutionState.CANCELED, error=interrupts.cancel_reason)
        if interrupts.stop_reason and not announced and hasattr(observer, "run_stopping"):
            announced = True
            observer.run_stopping(f"{interrupts.stop_reason}: waiting for {node.id} to finish. "
                                  "Press Ctrl-C again to stop now (recorded CANCELED).")
    if failure:
        raise failure[0]
    return result[0]


def _skipped_by_condition(store: MetadataStore, pipeline_name: str, node_id: str, run_id: str) -> bool:
    records = [r for r in store.node_executions(pipeline_name, node_id) if r.run_id == run_id]
    return bool(records) and bool(records[-1].properties.get("skipped_by_condition"))
