"""Run a compiled Kubeflow pipeline spec on this machine, task by task, as KFP would.

The spec is parsed into kfp's ``PipelineSpec`` proto (so a spec KFP would reject fails here too),
tasks are ordered by their ``dependentTasks``, KFP's placeholders are filled in (the run id from
``{{$.pipeline_job_uuid}}``, input parameters from the pipeline's parameters), and each task's
container ``command + args`` runs as a subprocess with the task's retry policy. Only the image is
not used: commands run with this machine's interpreter. This is how penstock proves that the
compiled spec, not just the pipeline, works.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from typing import Any

from penstock.errors import ExecutionError, PipelineDefinitionError

_INPUT_PARAMETER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")
_PLACEHOLDER = re.compile(r"\{\{\$[^}]*\}\}")


@dataclasses.dataclass
class TaskRun:
    name: str
    command: list[str]
    returncode: int
    attempts: int
    duration_s: float
    output: str


@dataclasses.dataclass
class LocalRunResult:
    run_id: str
    tasks: dict[str, TaskRun]  # in execution order

    @property
    def succeeded(self) -> bool:
        return all(t.returncode == 0 for t in self.tasks.values())


@dataclasses.dataclass(frozen=True)
class _Task:
    name: str
    dependencies: tuple[str, ...]
    component: str
    inputs: dict[str, Any]  # parameter -> ("pipeline", name) | ("constant", value)
    max_retries: int
    backoff_s: float
    backoff_factor: float


def load_spec(path: str) -> Any:
    """Parse a compiled YAML into kfp's ``PipelineSpec`` proto, failing on anything KFP would not accept."""
    import yaml
    from google.protobuf import json_format

    from penstock.orchestrators.kubeflow.compiler import import_kfp

    import_kfp()  # quick: the spec proto needs no KFP API client
    from kfp.pipeline_spec import pipeline_spec_pb2

    try:
        with open(path) as f:
            documents = [d for d in yaml.safe_load_all(f) if d]
    except OSError as e:
        raise PipelineDefinitionError(f"cannot read compiled pipeline {path}: {e}") from None
    except yaml.YAMLError as e:
        raise PipelineDefinitionError(f"{path} is not valid YAML: {e}") from None
    if not documents:
        raise PipelineDefinitionError(f"{path} is empty")
    try:
        # The first document is the pipeline spec; a second one, if any, is the platform spec.
        return json_format.ParseDict(documents[0], pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise PipelineDefinitionError(f"{path} is not a KFP pipeline spec: {e}") from None


def task_order(spec: Any) -> list[str]:
    """Task names of the root DAG in an order that respects ``dependentTasks``."""
    return [t.name for t in _ordered_tasks(spec)]


def run_compiled(
    path: str,
    *,
    run_id: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    python: str = sys.executable,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
) -> LocalRunResult:
    """Run every task of the compiled spec at ``path`` in dependency order; stop at the first task
    that fails for good (after its retries) and raise ``ExecutionError`` naming it."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    spec = load_spec(path)
    run_id = run_id or str(uuid.uuid4())
    values = _pipeline_parameters(spec, parameters or {})
    deployment = json_format.ParseDict(
        json_format.MessageToDict(spec.deployment_spec), pipeline_spec_pb2.PipelineDeploymentConfig()
    )
    context = {
        "{{$.pipeline_job_uuid}}": run_id,
        "{{$.pipeline_job_name}}": spec.pipeline_info.name,
        "{{$.pipeline_job_resource_name}}": f"{spec.pipeline_info.name}-{run_id}",
    }
    results: dict[str, TaskRun] = {}
    for task in _ordered_tasks(spec):
        component = spec.components[task.component]
        executor = deployment.executors[component.executor_label]
        if not executor.HasField("container"):
            raise PipelineDefinitionError(f"task {task.name}: only container tasks can run locally")
        inputs = {}
        for name, (kind, value) in task.inputs.items():
            inputs[name] = values[value] if kind == "pipeline" else _fill_run_placeholders(value, context, task.name)
        container = executor.container
        command = [_fill_inputs(part, inputs, task.name) for part in [*container.command, *container.args]]
        if command and command[0] in ("python", "python3"):
            command[0] = python  # the image's interpreter is this machine's
        results[task.name] = _run_task(task, command, cwd, env)
        if results[task.name].returncode != 0:
            tail = "\n".join(results[task.name].output.strip().splitlines()[-15:])
            raise ExecutionError(
                task.name,
                f"task failed with exit code {results[task.name].returncode} after "
                f"{results[task.name].attempts} attempt(s) in run {run_id}:\n{tail}",
            )
    return LocalRunResult(run_id=run_id, tasks=results)


def _ordered_tasks(spec: Any) -> list[_Task]:
    tasks = {}
    for name, task_spec in spec.root.dag.tasks.items():
        inputs: dict[str, Any] = {}
        for param, source in task_spec.inputs.parameters.items():
            if source.component_input_parameter:
                inputs[param] = ("pipeline", source.component_input_parameter)
            elif source.HasField("runtime_value"):
                from google.protobuf import json_format

                inputs[param] = ("constant", json_format.MessageToDict(source.runtime_value.constant))
            else:
                raise PipelineDefinitionError(f"task {name}: input {param!r} comes from an unsupported source")
        retry = task_spec.retry_policy
        tasks[name] = _Task(
            name=name,
            dependencies=tuple(task_spec.dependent_tasks),
            component=task_spec.component_ref.name,
            inputs=inputs,
            max_retries=retry.max_retry_count,
            backoff_s=retry.backoff_duration.seconds + retry.backoff_duration.nanos / 1e9,
            backoff_factor=retry.backoff_factor or 2.0,
        )
    for task in tasks.values():
        unknown = [d for d in task.dependencies if d not in tasks]
        if unknown:
            raise PipelineDefinitionError(f"task {task.name} depends on unknown task(s) {unknown}")
    # Kahn's algorithm in declaration order among ready tasks, as KFP's own ordering is stable.
    order: list[_Task] = []
    done: set[str] = set()
    while len(order) < len(tasks):
        ready = [t for t in tasks.values() if t.name not in done and set(t.dependencies) <= done]
        if not ready:
            raise PipelineDefinitionError(f"tasks {sorted(set(tasks) - done)} form a dependency cycle")
        order.extend(ready)
        done.update(t.name for t in ready)
    return order


def _pipeline_parameters(spec: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    from google.protobuf import json_format

    declared = spec.root.input_definitions.parameters
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise PipelineDefinitionError(
            f"unknown pipeline parameter(s) {unknown}; the pipeline declares {sorted(declared)}"
        )
    values = {}
    for name, definition in declared.items():
        if name in overrides:
            values[name] = overrides[name]
        elif definition.HasField("default_value"):
            values[name] = json_format.MessageToDict(definition.default_value)
        elif not definition.is_optional:
            raise PipelineDefinitionError(f"pipeline parameter {name!r} has no default; pass a value")
    return values


def _fill_run_placeholders(value: Any, context: Mapping[str, str], task: str) -> Any:
    if not isinstance(value, str):
        return value
    filled = value
    for placeholder, replacement in context.items():
        filled = filled.replace(placeholder, replacement)
    leftover = _PLACEHOLDER.findall(filled)
    if leftover:
        raise PipelineDefinitionError(f"task {task}: cannot fill placeholder(s) {leftover} locally")
    return filled


def _fill_inputs(part: str, inputs: Mapping[str, Any], task: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in inputs:
            raise PipelineDefinitionError(f"task {task}: its command uses input {name!r}, which it does not receive")
        value = inputs[name]
        return value if isinstance(value, str) else json.dumps(value)

    filled = _INPUT_PARAMETER.sub(replace, part)
    leftover = _PLACEHOLDER.findall(filled)
    if leftover:
        raise PipelineDefinitionError(f"task {task}: cannot fill placeholder(s) {leftover} locally")
    return filled


def _run_task(task: _Task, command: list[str], cwd: str | None, env: Mapping[str, str] | None) -> TaskRun:
    started = time.perf_counter()
    wait = task.backoff_s
    attempt = 0
    outputs = []
    while True:
        attempt += 1
        completed = subprocess.run(
            command, cwd=cwd, env=dict(env) if env is not None else os.environ.copy(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
        )
        outputs.append(completed.stdout)
        if completed.returncode == 0 or attempt > task.max_retries:
            break
        time.sleep(wait)
        wait *= task.backoff_factor
    return TaskRun(task.name, command, completed.returncode, attempt, time.perf_counter() - started,
                   "\n".join(outputs))
