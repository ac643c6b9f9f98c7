"""Run one component's executor in a test, as the runtime would, without a pipeline run or ML
Metadata (the idea of Dagster's ``build_op_context``).

    from penstock import testing
    from penstock.dsl.channel import Channel

    gen = StatisticsGen(examples=Channel(Examples))
    outputs = testing.run_executor(gen, inputs={"examples": [examples]}, pipeline_root=str(tmp_path))
    stats = outputs["statistics"]          # LIVE, with an id: it can feed the next component

The executor gets what it gets in a run: the component's parameters with every default the
spec declares filled in, fresh outputs under ``<root>/<component>/<output>/<execution id>``,
scratch space, and the Beam arguments given.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

from penstock.dsl.artifact import Artifact, ArtifactState
from penstock.dsl.component import Component
from penstock.runtime.context import ExecutorContext
from penstock.storage import filesystem, layout

_ids = itertools.count(1)
_ids_lock = threading.Lock()


def _next_id() -> int:
    with _ids_lock:
        return next(_ids)


def build_executor_context(
    component: Component,
    *,
    pipeline_root: str,
    inputs: dict[str, list[Artifact]] | None = None,
    beam_pipeline_args: list[str] | None = None,
    pipeline_name: str = "test",
    run_id: str = "test-run",
    execution_id: int | None = None,
) -> ExecutorContext:
    """The context the runtime would hand ``component``'s executor, its outputs created empty."""
    execution_id = execution_id if execution_id is not None else _next_id()
    outputs: dict[str, Artifact] = {}
    for key, spec in component.SPEC.outputs.items():
        outputs[key] = spec.type(layout.output_uri(pipeline_root, component.id, key, execution_id))
        filesystem.makedirs(outputs[key].uri)
    temp = layout.execution_temp_uri(pipeline_root, execution_id)
    scratch = os.path.join(temp, "local") if not filesystem.is_remote(temp) else temp
    filesystem.makedirs(scratch)
    return ExecutorContext(
        pipeline_name=pipeline_name, run_id=run_id, component_id=component.id, execution_id=execution_id,
        inputs=dict(inputs or {}), outputs=outputs, parameters=dict(component.parameters),
        beam_pipeline_args=list(beam_pipeline_args if beam_pipeline_args is not None else []),
        tmp_dir=scratch, pipeline_root=pipeline_root, temp_uri=temp,
    )


def run_executor(
    component: Component,
    *,
    pipeline_root: str,
    inputs: dict[str, list[Artifact]] | None = None,
    beam_pipeline_args: list[str] | None = None,
    **context: Any,
) -> dict[str, Artifact]:
    """Run ``component``'s executor once; its outputs, LIVE and with ids (so they can feed the
    next component's inputs). Exceptions propagate as the executor raised them."""
    from penstock import _env

    ctx = build_executor_context(component, pipeline_root=pipeline_root, inputs=inputs,
                                 beam_pipeline_args=beam_pipeline_args, **context)
    _env.use_keras_2()
    component.executor_fn()(ctx)
    for artifact in ctx.outputs.values():
        artifact.state = ArtifactState.LIVE
        artifact.id = _next_id()
    return ctx.outputs
