"""Run a compiled Kubeflow pipeline spec on this machine, as KFP would.

The spec is parsed into kfp's ``PipelineSpec`` proto (so a spec KFP would reject fails here too),
KFP's placeholders are filled in (the run id from ``{{$.pipeline_job_uuid}}``, input parameters
from the pipeline's parameters), and each task's container ``command + args`` runs as a
subprocess with the task's retry policy, once all the tasks it depends on have succeeded. Only
the image's interpreter is not used: commands run with this machine's. This is how penstock
proves that the compiled spec, not just the pipeline, works.

Two isolations:

- ``"shared"`` (default): every task in ``cwd`` with ``env`` (default: this process's), one at a
  time unless ``parallelism`` says otherwise. Quick; it checks the spec, not the deployment.
- ``"pod"``: every task attempt in a pod of its own (``pods``): a fresh copy of the image as its
  working directory, its own HOME and TMPDIR, only the variables a pod would get. Nothing is
  shared but the object store and the ML Metadata server, so the pipeline root must be an object
  store and the metadata MySQL. Independent tasks run in parallel (``parallelism``, default
  ``DEFAULT_POD_PARALLELISM``), as KFP runs them. A pod's folders are removed as soon as its
  task succeeds, before any dependent starts: no task can rely on another's local files. A
  failed task's are kept, for inspection. A Kubernetes secret the spec maps into the
  environment (``secretAsEnv``) is taken from ``secrets``; a missing one fails the run before
  anything starts, as Kubernetes would refuse to start the pod.

Failures are KFP's in both: a task that fails after its retries stops its dependents (they never
start), the other tasks run to the end, and then ``CompiledRunError`` names the failed and the
not-run tasks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Literal

from penstock.errors import ExecutionError, PenstockError, PipelineDefinitionError

_INPUT_PARAMETER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")
_PLACEHOLDER = re.compile(r"\{\{\$[^}]*\}\}")
DEFAULT_POD_PARALLELISM = 2  # the width of penstock's example DAGs, and this project's CI machines' cores
Isolation = Literal["shared", "pod"]


@dataclasses.dataclass
class TaskRun:
    name: str
    command: list[str]
    returncode: int
    attempts: int
    duration_s: float
    output: str
    started_at: float = 0.0  # wall clock (time.time()) when the first attempt started
    ended_at: float = 0.0
    # Pod isolation: each attempt's pod folder (removed once the task succeeded, kept if it
    # failed), and what the attempts created in them (relative to the task's folder).
    folders: list[str] = dataclasses.field(default_factory=list)
    left_behind: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class LocalRunResult:
    run_id: str
    tasks: dict[str, TaskRun]  # in the order they started
    not_run: list[str] = dataclasses.field(default_factory=list)  # an upstream task failed
    kept: str | None = None  # pod isolation: where the failed tasks' pod folders are

    @property
    def failed(self) -> list[str]:
        return [name for name, task in self.tasks.items() if task.returncode != 0]

    @property
    def succeeded(self) -> bool:
        return not self.failed and not self.not_run


class CompiledRunError(ExecutionError):
    """Tasks of a compiled pipeline failed; ``result`` holds every task's outcome."""

    def __init__(self, result: LocalRunResult) -> None:
        parts = []
        for name in result.failed:
            task = result.tasks[name]
            tail = "\n".join(task.output.strip().splitlines()[-15:])
            parts.append(f"task {name} failed with exit code {task.returncode} after {task.attempts} attempt(s) "
                         f"in run {result.run_id}:\n{tail}")
        if result.not_run:
            parts.append(f"not run, as a task they depend on failed: {', '.join(result.not_run)}")
        if result.kept:
            parts.append(f"the failed tasks' pod folders (app, home, tmp, output.log) are kept in {result.kept}")
        super().__init__(result.failed[0] if result.failed else "run", "\n".join(parts))
        self.result = result


@dataclasses.dataclass(frozen=True)
class _Task:
    name: str
    dependencies: tuple[str, ...]
    component: str
    inputs: dict[str, Any]  # parameter -> ("pipeline", name) | ("constant", value)
    max_retries: int
    backoff_s: float
    backoff_factor: float


@dataclasses.dataclass
class _Attempt:
    returncode: int
    output: str
    folder: str | None = None
    left_behind: list[str] = dataclasses.field(default_factory=list)


def _documents(path: str) -> list[Any]:
    import yaml

    try:
        with open(path) as f:
            documents = [d for d in yaml.safe_load_all(f) if d]
    except OSError as e:
        raise PipelineDefinitionError(f"cannot read compiled pipeline {path}: {e}") from None
    except yaml.YAMLError as e:
        raise PipelineDefinitionError(f"{path} is not valid YAML: {e}") from None
    if not documents:
        raise PipelineDefinitionError(f"{path} is empty")
    return documents


def load_spec(path: str) -> Any:
    """Parse a compiled YAML into kfp's ``PipelineSpec`` proto, failing on anything KFP would not accept."""
    from google.protobuf import json_format

    from penstock.orchestrators.kubeflow.compiler import import_kfp

    import_kfp()  # quick: the spec proto needs no KFP API client
    from kfp.pipeline_spec import pipeline_spec_pb2

    documents = _documents(path)
    try:
        # The first document is the pipeline spec; a second one, if any, is the platform spec.
        return json_format.ParseDict(documents[0], pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise PipelineDefinitionError(f"{path} is not a KFP pipeline spec: {e}") from None


def load_kubernetes_executors(path: str) -> dict[str, Any]:
    """The platform spec's Kubernetes settings per executor label (kfp-kubernetes writes them
    as the second YAML document); empty when there are none."""
    documents = _documents(path)
    platform = documents[1] if len(documents) > 1 else {}
    executors: dict[str, Any] = platform.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {}).get(
        "executors", {})
    return executors


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
    isolation: Isolation = "shared",
    image: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    parallelism: int | None = None,
    workdir: str | None = None,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
    task_timeout_s: float | None = None,
) -> LocalRunResult:
    """Run the tasks of the compiled spec at ``path`` (see the module docstring); raise
    ``CompiledRunError`` when any failed for good (after its retries).

    ``isolation="shared"``: tasks run in ``cwd`` with ``env`` (default: this process's
    environment), ``parallelism`` (default 1) at a time.

    ``isolation="pod"``: ``image`` is the image's build context (the project directory, or
    several layered in order), snapshotted once into ``workdir`` (default: a new temporary
    folder, removed at the end unless a task failed); ``env`` holds only the variables every pod
    is given (object store endpoints and credentials...), ``secrets`` the Kubernetes secrets
    (name -> key -> value) the spec maps into pods; ``parallelism`` defaults to
    ``DEFAULT_POD_PARALLELISM``.

    ``task_timeout_s``: an attempt running longer is killed and counts as failed (KFP sets no
    limit either; tests do, so that a hung task fails the run instead of hanging it).
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    if isolation not in ("shared", "pod"):
        raise PenstockError(f"isolation must be 'shared' or 'pod', not {isolation!r}")
    spec = load_spec(path)
    kubernetes = load_kubernetes_executors(path)
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
    tasks = _ordered_tasks(spec)
    # Every command and variable is worked out before anything runs: a spec that cannot run
    # fails at once, not halfway through.
    commands: dict[str, list[str]] = {}
    variables: dict[str, dict[str, str]] = {}
    for task in tasks:
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
        commands[task.name] = command
        variables[task.name] = _secret_variables(kubernetes.get(component.executor_label, {}), secrets or {},
                                                 task.name, pod=isolation == "pod")

    if isolation == "pod":
        if cwd is not None:
            raise PenstockError("cwd applies to isolation='shared': a pod's working directory is its own copy of the image")
        if image is None:
            raise PenstockError("isolation='pod' needs image=<the image's build context> (the project directory)")
        _require_shared_nothing(values)
        launcher: _Launcher = _Pods(task_timeout_s, image, workdir, python, env or {}, run_id)
    else:
        if image is not None or workdir is not None:
            raise PenstockError("image and workdir apply to isolation='pod'")
        launcher = _Shared(task_timeout_s, cwd, env)
    try:
        started, not_run = _schedule(
            tasks, lambda task: launcher.run(task, commands[task.name], variables[task.name]),
            parallelism or (DEFAULT_POD_PARALLELISM if isolation == "pod" else 1),
        )
    finally:
        kept = launcher.finish()
    result = LocalRunResult(run_id=run_id, tasks=started, not_run=not_run, kept=kept)
    if not result.succeeded:
        raise CompiledRunError(result)
    return result


def _require_shared_nothing(values: Mapping[str, Any]) -> None:
    from penstock.orchestrators.kubeflow.compiler import is_remote

    problems = []
    root, metadata = values.get("pipeline_root"), values.get("metadata")
    if root is not None and not is_remote(str(root)):
        problems.append(f"the pipeline root {root!r} is a local path")
    if metadata is not None and not str(metadata).startswith("mysql://"):
        problems.append(f"the metadata store {metadata!r} is a local file")
    if problems:
        raise PipelineDefinitionError(
            "pod isolation shares nothing between tasks but the object store and the ML Metadata server, as pods "
            f"on different nodes would, but {' and '.join(problems)}: pass parameters={{'pipeline_root': "
            "'gs://...' or 's3://...', 'metadata': 'mysql://...'}, or run with isolation='shared'"
        )


def _secret_variables(settings: Mapping[str, Any], secrets: Mapping[str, Mapping[str, str]], task: str, *,
                      pod: bool) -> dict[str, str]:
    """The variables a task's Kubernetes settings fill from secrets. In a pod every one must be
    given; sharing this process's environment, the missing ones may be there already."""
    unsupported = sorted(set(settings) - {"secretAsEnv"})
    if pod and unsupported:
        raise PipelineDefinitionError(f"task {task}: Kubernetes settings {unsupported} cannot be reproduced locally")
    found = {}
    for reference in settings.get("secretAsEnv", []):
        name = reference.get("secretName", "")
        for mapping in reference.get("keyToEnv", []):
            key, variable = mapping.get("secretKey", ""), mapping.get("envVar", "")
            value = secrets.get(name, {}).get(key)
            if value is not None:
                found[variable] = value
            elif pod:
                raise PipelineDefinitionError(
                    f"task {task}: its pod takes ${variable} from key {key!r} of the Kubernetes secret {name!r}, "
                    f"which was not given: pass secrets={{{name!r}: {{{key!r}: ...}}}}"
                )
    return found


def _schedule(tasks: list[_Task], run: Callable[[_Task], TaskRun],
              parallelism: int) -> tuple[dict[str, TaskRun], list[str]]:
    """Run ``tasks`` (in dependency order) as KFP does: each once every task it depends on
    succeeded, at most ``parallelism`` at once; a failed task's dependents never start and the
    others run to the end. Returns the runs in the order they started, and the tasks not run."""
    if parallelism < 1:
        raise PenstockError(f"parallelism must be at least 1, not {parallelism}")
    finished: dict[str, TaskRun] = {}
    started: list[str] = []
    not_run: list[str] = []
    waiting = list(tasks)
    running: dict[Future[TaskRun], _Task] = {}
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="kfp-task") as pool:
        while waiting or running:
            blocked = {name for name, run_ in finished.items() if run_.returncode != 0} | set(not_run)
            still_waiting = []
            for task in waiting:  # in dependency order, so a task blocked here blocks its dependents below
                if blocked.intersection(task.dependencies):
                    not_run.append(task.name)
                    blocked.add(task.name)
                elif len(running) < parallelism and all(d in finished for d in task.dependencies):
                    running[pool.submit(run, task)] = task
                    started.append(task.name)
                else:
                    still_waiting.append(task)
            waiting = still_waiting
            if not running:  # nothing runs and nothing can start: every task is accounted for
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                finished[running.pop(future).name] = future.result()
    return {name: finished[name] for name in started}, not_run


def _run_task(task: _Task, command: list[str], attempt: Callable[[int], _Attempt]) -> TaskRun:
    """``attempt`` (1, 2, ...) until one succeeds or the task's retries are spent."""
    started_at, started = time.time(), time.perf_counter()
    wait_s = task.backoff_s
    attempts: list[_Attempt] = []
    while True:
        attempts.append(attempt(len(attempts) + 1))
        if attempts[-1].returncode == 0 or len(attempts) > task.max_retries:
            break
        time.sleep(wait_s)
        wait_s *= task.backoff_factor
    return TaskRun(
        task.name, command, attempts[-1].returncode, len(attempts), time.perf_counter() - started,
        "\n".join(a.output for a in attempts), started_at=started_at, ended_at=time.time(),
        folders=[a.folder for a in attempts if a.folder], left_behind=[p for a in attempts for p in a.left_behind],
    )


class _Launcher:
    def __init__(self, timeout_s: float | None) -> None:
        self.timeout_s = timeout_s

    def execute(self, command: list[str], cwd: str | None, env: Mapping[str, str]) -> tuple[int, str]:
        """One attempt: the exit code and the output (stdout and stderr together)."""
        try:
            completed = subprocess.run(command, cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, check=False, timeout=self.timeout_s)
        except subprocess.TimeoutExpired as e:  # subprocess.run killed it
            output = e.output.decode(errors="replace") if isinstance(e.output, bytes) else (e.output or "")
            return -9, f"{output}\nkilled after {self.timeout_s:.0f} s (task_timeout_s)"
        return completed.returncode, completed.stdout

    def run(self, task: _Task, command: list[str], variables: Mapping[str, str]) -> TaskRun:
        raise NotImplementedError

    def finish(self) -> str | None:
        """After the run: clean up; the folder kept for inspection, if any."""
        return None


class _Shared(_Launcher):
    def __init__(self, timeout_s: float | None, cwd: str | None, env: Mapping[str, str] | None) -> None:
        super().__init__(timeout_s)
        self.cwd = cwd
        self.env = dict(env) if env is not None else os.environ.copy()

    def run(self, task: _Task, command: list[str], variables: Mapping[str, str]) -> TaskRun:
        def attempt(_: int) -> _Attempt:
            return _Attempt(*self.execute(command, self.cwd, {**self.env, **variables}))

        return _run_task(task, command, attempt)


class _Pods(_Launcher):
    """Every attempt in a pod of its own under ``<workdir>/pods/<task>/attempt-<n>``."""

    def __init__(self, timeout_s: float | None, image: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                 workdir: str | None, python: str, env: Mapping[str, str], run_id: str) -> None:
        from penstock.orchestrators.kubeflow import pods

        super().__init__(timeout_s)
        self.created = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix=f"penstock-kfp-{run_id[:8]}-")
        self.pods = os.path.join(self.workdir, "pods")
        self.python, self.env = python, dict(env)
        self.failed = False
        os.makedirs(self.pods, exist_ok=True)
        self.image = pods.build_image(image, os.path.join(self.workdir, "image"))

    def run(self, task: _Task, command: list[str], variables: Mapping[str, str]) -> TaskRun:
        from penstock.orchestrators.kubeflow.pods import Pod

        folder = os.path.join(self.pods, task.name)

        def attempt(number: int) -> _Attempt:
            pod = Pod.create(self.image, os.path.join(folder, f"attempt-{number}"))
            env = pod.environment(self.image, self.python, {**self.env, **variables})
            returncode, output = self.execute(command, pod.app, env)
            left = [os.path.relpath(os.path.join(pod.root, p), folder) for p in pod.left_behind(self.image)]
            with open(os.path.join(pod.root, "output.log"), "w") as log:
                log.write(output)
            return _Attempt(returncode, output, pod.root, left)

        run = _run_task(task, command, attempt)
        if run.returncode == 0:
            shutil.rmtree(folder)
        else:
            self.failed = True
        return run

    def finish(self) -> str | None:
        shutil.rmtree(self.image.root, ignore_errors=True)
        if self.failed:
            return self.pods
        if self.created:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            shutil.rmtree(self.pods, ignore_errors=True)
        return None


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
