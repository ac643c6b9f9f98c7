"""ML Metadata, as penstock records it.

Contexts: ``pipeline`` (one per pipeline name), ``pipeline_run`` (one per run, holding the run's
state and timings) and ``node`` (one per pipeline component). Executions carry their state
(RUNNING, COMPLETE, FAILED, CACHED), parameters, timings, cache key and error; artifacts carry
uri, type, properties and state; INPUT and OUTPUT events link them, keyed by input/output name.
All access goes through one lock: MLMD's Python client is not thread-safe.

Several processes may share one store (tasks of a run under Kubeflow or Airflow, concurrent runs
on MySQL): creating a type or a context is get-or-create, retried when another process created
it first (see ``_retrying``).

MySQL's MLMD schema stores ``int_value`` as a 32-bit column, too small for millisecond timestamps.
On MySQL an int custom property beyond 32 bits is stored as ``double_value`` (exact to 2**53), and
every reader turns an integral double beyond 32 bits back into an int (so would a float property
such as 5e9 that happens to be integral). SQLite stores 64-bit ints and keeps ``int_value``.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from penstock.dsl.artifact import Artifact, ArtifactState
from penstock.dsl.standard_artifacts import artifact_class, registered_artifact_types
from penstock.errors import MetadataError, NotFoundError
from penstock.metadata.connection import MetadataConfig, MysqlConfig
from penstock.metadata.connection import parse as parse_config
from penstock.metadata.states import MLMD_ORDER, ExecutionState

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"


_INT32_MAX = 2**31 - 1
_EXACT_IN_DOUBLE = 2**53  # every int up to this magnitude is exactly a float64
# Messages of failures that running the same call again fixes, which MLMD reports as
# InternalError or RuntimeError: MySQL rolled the transaction back (deadlock 1213, lock wait
# timeout 1205, table definition changed 1412), or MLMD found a schema that another process is
# creating right now ("... concurrent connection to the empty database. Please retry ...").
_TRANSIENT = ("deadlock found", "lock wait timeout", "try restarting transaction", "please retry")
_ATTEMPTS = 8

T = TypeVar("T")


def now_ms() -> int:
    return int(time.time() * 1000)


class ExecutionRecord:
    """A read-only view of one recorded execution."""

    def __init__(self, proto: Any, type_name: str) -> None:
        self.id: int = proto.id
        self.type_name = type_name
        self.state = MLMD_ORDER[proto.last_known_state]
        props = {k: _value_of(v) for k, v in proto.custom_properties.items()}
        self.properties: dict[str, Any] = props
        self.component_id: str = props.get("component_id", "")
        self.run_id: str = props.get("run_id", "")
        self.start_ms: int = int(props.get("start_ms", proto.create_time_since_epoch))
        self.end_ms: int | None = int(props["end_ms"]) if "end_ms" in props else None
        self.error: str | None = props.get("error")
        self.cache_key_json: str | None = props.get("cache_key_json")
        self.cache_decision: str | None = props.get("cache_decision")
        self.parameters: dict[str, Any] = json.loads(props.get("parameters", "{}"))

    @property
    def duration_s(self) -> float | None:
        return None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000


class RunRecord:
    def __init__(self, proto: Any) -> None:
        props = {k: _value_of(v) for k, v in proto.custom_properties.items()}
        self.context_id: int = proto.id
        self.run_id: str = props.get("run_id", proto.name)
        self.pipeline_name: str = props.get("pipeline_name", "")
        self.state = ExecutionState(props.get("state") or ExecutionState.UNKNOWN)
        self.start_ms: int = int(props.get("start_ms", proto.create_time_since_epoch))
        self.end_ms: int | None = int(props["end_ms"]) if props.get("end_ms") else None
        self.error: str | None = props.get("error") or None
        self.node_ids: list[str] = json.loads(props.get("node_ids", "[]"))
        self.pipeline_root: str = props.get("pipeline_root", "")
        self.dag: dict[str, list[str]] = json.loads(props.get("dag", "{}"))
        self.properties = props

    @property
    def duration_s(self) -> float | None:
        return None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000


def _value_of(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    result = getattr(value, kind)
    # An int too wide for MySQL's int_value, stored as a double (see the module docstring).
    if kind == "double_value" and result.is_integer() and _INT32_MAX < abs(result) <= _EXACT_IN_DOUBLE:
        return int(result)
    return result


def _set_value(target: Any, key: str, value: Any, int32_only: bool = False) -> None:
    """Set ``target[key]`` (a property map) from a Python value. ``int32_only``: the store's
    int_value is 32-bit (MySQL), so wider ints go to double_value."""
    if isinstance(value, bool):
        target[key].int_value = int(value)
    elif isinstance(value, int):
        if not int32_only or -_INT32_MAX - 1 <= value <= _INT32_MAX:
            target[key].int_value = value
        elif abs(value) <= _EXACT_IN_DOUBLE:
            target[key].double_value = float(value)
        else:
            raise MetadataError(f"property {key!r} = {value} is too large for this store's ML Metadata schema "
                                f"(ints beyond 2**53 are not kept exactly); store it as a string")
    elif isinstance(value, float):
        target[key].double_value = value
    elif isinstance(value, str):
        target[key].string_value = str(value)  # a StrEnum member as its plain text
    else:
        target[key].string_value = json.dumps(value, sort_keys=True, default=str)


def _failure_message(error: Exception, where: str) -> str:
    # MLMD's text is "[what it did]Error when executing query: <reason> query: <the SQL>": keep the reason.
    found = re.search(r"Error when executing query: (.*?) query:", str(error), re.S)
    reason = found.group(1).strip() if found else str(error).strip().splitlines()[0]
    hint = ""
    if "disk is full" in reason or "no space" in reason.lower():
        hint = " (free space on the disk that holds it, then continue the run with `penstock run ... --resume`)"
    return f"cannot write to the metadata store {where}: {reason}{hint}"


class _Client:
    """MLMD's client, reopened after a call fails inside its transaction: MLMD leaves that
    transaction open, and every later call on the same client fails with "Transaction already
    open", so a full disk would otherwise turn one failure into a cascade. Failures that
    ``MetadataStore._retrying`` retries pass through unchanged; the others become MetadataError."""

    def __init__(self, client: Any, reopen: Callable[[], Any], where: str) -> None:
        self._client = client
        self._reopen = reopen
        self._where = where

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            from ml_metadata import errors

            try:
                return method(*args, **kwargs)
            except (errors.InternalError, errors.FailedPreconditionError, errors.UnknownError,
                    errors.ResourceExhaustedError, errors.DataLossError) as e:
                try:
                    self._client = self._reopen()
                except Exception:  # the store cannot even be opened now: the next call says so
                    pass
                if any(text in str(e).lower() for text in _TRANSIENT):
                    raise
                raise MetadataError(_failure_message(e, self._where)) from None

        return call


class MetadataStore:
    """penstock's gateway to ML Metadata."""

    def __init__(self, config: MetadataConfig | str) -> None:
        config = parse_config(config)  # a Pipeline's metadata as declared: a path, a URL or a config
        self.config = config
        self._lock = threading.RLock()
        try:
            from ml_metadata.metadata_store import metadata_store
            from ml_metadata.proto import metadata_store_pb2
        except ImportError as e:  # pragma: no cover - the lock file installs it
            raise MetadataError(f"ml-metadata is not installed: {e}") from None
        self._pb = metadata_store_pb2
        self._int32_only = isinstance(config, MysqlConfig)
        proto = config.to_proto()
        try:
            # Opening a new MySQL database creates MLMD's schema: racing processes may collide.
            client = self._retrying(lambda: metadata_store.MetadataStore(proto), "opening")
            self._store = _Client(client, lambda: metadata_store.MetadataStore(proto), config.describe())
        except MetadataError:
            raise
        except Exception as e:
            hint = ""
            if isinstance(config, MysqlConfig) and "mysql_real_connect failed" in str(e):
                # MLMD drops MySQL's own reason: name what to check.
                password = f"the password in ${config.password_env}" if config.password_env else "the password"
                hint = (f" (the server refused the connection or cannot be reached: check that it runs, "
                        f"{'the socket' if config.socket else 'the host and port'}, the user and {password})")
            raise MetadataError(f"cannot open the metadata store {config.describe()}: {e}{hint}") from None
        self._artifact_type_ids: dict[str, int] = {}
        self._artifact_type_names: dict[int, str] = {}
        self._execution_type_ids: dict[str, int] = {}
        self._execution_type_names: dict[int, str] = {}
        self._context_type_ids: dict[str, int] = {}
        self._context_cache: dict[tuple[str, str], Any] = {}
        self._open_executions: dict[int, Any] = {}  # recorded RUNNING by this process

    def _retrying(self, operation: Callable[[], T], what: str) -> T:
        """Run ``operation`` (a get-or-create, or one MLMD call) again when it lost a race with
        another process: AlreadyExists means the other one created the same type or context
        first, so the next attempt reads it; an aborted transaction (a MySQL deadlock or lock
        wait timeout) was rolled back whole and can simply run again."""
        from ml_metadata import errors

        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return operation()
            except (errors.AlreadyExistsError, errors.AbortedError) as e:
                error: Exception = e
            except (errors.InternalError, RuntimeError) as e:
                if not any(text in str(e).lower() for text in _TRANSIENT):
                    raise
                error = e
            if attempt == _ATTEMPTS:
                raise MetadataError(f"{what} in the metadata store {self.config.describe()} still failed after "
                                    f"{attempt} attempts under concurrent writers: {error}") from None
            # Jittered exponential backoff, so the racers do not collide again in step.
            time.sleep(random.uniform(0.05, 0.1 * 2 ** min(attempt, 5)))
        raise AssertionError("unreachable")

    def _set(self, target: Any, key: str, value: Any) -> None:
        try:
            _set_value(target, key, value, int32_only=self._int32_only)
        except MetadataError as e:
            raise MetadataError(f"{e} (store: {self.config.describe()})") from None

    # -- types ------------------------------------------------------------------------------
    def register_standard_types(self) -> None:
        """Register every artifact type and penstock's context types, in one transaction."""
        with self._lock:
            classes = [c for c in registered_artifact_types().values() if c.TYPE_NAME not in self._artifact_type_ids]
            contexts = [n for n in (PIPELINE_CONTEXT, RUN_CONTEXT, NODE_CONTEXT) if n not in self._context_type_ids]
            if not classes and not contexts:
                return
            from ml_metadata.proto import metadata_store_service_pb2

            request = metadata_store_service_pb2.PutTypesRequest(can_add_fields=True)
            for cls in classes:
                proto = request.artifact_types.add(name=cls.TYPE_NAME)
                for name, kind in cls.PROPERTIES.items():
                    proto.properties[name] = getattr(self._pb, kind.value)
            for name in contexts:
                request.context_types.add(name=name)
            response = metadata_store_service_pb2.PutTypesResponse()
            try:
                # The public client has no batch call; one PutTypes transaction instead of ~20
                # saves ~0.3 s on a new store. Putting an existing type returns its id, so a
                # retry after a concurrent registration reads the winner's types.
                self._retrying(lambda: self._store._call("PutTypes", request, response), "registering types")
            except AttributeError:  # pragma: no cover - a client without _call: one type at a time
                for cls in classes:
                    self._artifact_type_id(cls)
                for name in contexts:
                    self._context_type_id(name)
                return
            for cls, type_id in zip(classes, response.artifact_type_ids):
                self._artifact_type_ids[cls.TYPE_NAME] = type_id
                self._artifact_type_names[type_id] = cls.TYPE_NAME
            for name, type_id in zip(contexts, response.context_type_ids):
                self._context_type_ids[name] = type_id

    def _put_type(self, put: Callable[..., int], proto: Any) -> int:
        """Register one type (or get the id of the identical existing one)."""
        return self._retrying(lambda: put(proto, can_add_fields=True), f"registering type {proto.name!r}")

    def _artifact_type_id(self, cls: type[Artifact]) -> int:
        type_id = self._artifact_type_ids.get(cls.TYPE_NAME)
        if type_id is None:
            proto = self._pb.ArtifactType(name=cls.TYPE_NAME)
            for name, kind in cls.PROPERTIES.items():
                proto.properties[name] = getattr(self._pb, kind.value)
            type_id = self._put_type(self._store.put_artifact_type, proto)
            self._artifact_type_ids[cls.TYPE_NAME] = type_id
            self._artifact_type_names[type_id] = cls.TYPE_NAME
        return type_id

    def _artifact_type_name(self, type_id: int) -> str:
        if type_id not in self._artifact_type_names:
            for t in self._store.get_artifact_types():
                self._artifact_type_names[t.id] = t.name
                self._artifact_type_ids[t.name] = t.id
        return self._artifact_type_names.get(type_id, "Artifact")

    def _execution_type_id(self, name: str) -> int:
        type_id = self._execution_type_ids.get(name)
        if type_id is None:
            type_id = self._put_type(self._store.put_execution_type, self._pb.ExecutionType(name=name))
            self._execution_type_ids[name] = type_id
            self._execution_type_names[type_id] = name
        return type_id

    def _execution_type_name(self, type_id: int) -> str:
        if type_id not in self._execution_type_names:
            for t in self._store.get_execution_types():
                self._execution_type_names[t.id] = t.name
                self._execution_type_ids[t.name] = t.id
        return self._execution_type_names.get(type_id, "")

    def _context_type_id(self, name: str) -> int:
        type_id = self._context_type_ids.get(name)
        if type_id is None:
            type_id = self._put_type(self._store.put_context_type, self._pb.ContextType(name=name))
            self._context_type_ids[name] = type_id
        return type_id

    def _context(self, type_name: str, name: str, properties: dict[str, Any] | None = None) -> Any:
        """The context ``name`` of ``type_name``, created with ``properties`` if it is new. When
        several processes create it at once, one wins and the others read the winner's."""
        key = (type_name, name)
        cached = self._context_cache.get(key)
        if cached is not None:
            return cached

        def get_or_create() -> Any:
            context = self._store.get_context_by_type_and_name(type_name, name)
            if context is None:
                context = self._pb.Context(type_id=self._context_type_id(type_name), name=name)
                for k, v in (properties or {}).items():
                    self._set(context.custom_properties, k, v)
                [context.id] = self._store.put_contexts([context])
            return context

        context = self._retrying(get_or_create, f"creating the {type_name} context {name!r}")
        self._context_cache[key] = context
        return context

    # -- artifacts ----------------------------------------------------------------------------
    def _to_proto(self, artifact: Artifact) -> Any:
        proto = self._pb.Artifact(type_id=self._artifact_type_id(type(artifact)), uri=artifact.uri)
        if artifact.id is not None:
            proto.id = artifact.id
        proto.state = getattr(self._pb.Artifact, artifact.state.value)
        for k, v in artifact.properties.items():
            # Typed properties keep their declared type: an INT wider than the store's int_value
            # column cannot move to double_value.
            if self._int32_only and isinstance(v, int) and not -_INT32_MAX - 1 <= v <= _INT32_MAX:
                raise MetadataError(
                    f"{artifact.TYPE_NAME} property {k!r} = {v} does not fit the 32-bit INT column of "
                    f"{self.config.describe()}; keep it in custom_properties instead"
                )
            _set_value(proto.properties, k, v)
        for k, v in artifact.custom_properties.items():
            self._set(proto.custom_properties, k, v)
        return proto

    def _from_proto(self, proto: Any) -> Artifact:
        cls = artifact_class(self._artifact_type_name(proto.type_id))
        state_name = self._pb.Artifact.State.Name(proto.state)
        artifact = cls(
            uri=proto.uri,
            custom_properties={k: _value_of(v) for k, v in proto.custom_properties.items()},
            id=proto.id,
            state=ArtifactState[state_name] if state_name in ArtifactState.__members__ else ArtifactState.PENDING,
            create_time_ms=proto.create_time_since_epoch,
        )
        for k, v in proto.properties.items():
            if k in cls.PROPERTIES:
                artifact.properties[k] = _value_of(v)
        return artifact

    def get_artifacts(self, ids: Iterable[int]) -> list[Artifact]:
        ids = list(ids)
        with self._lock:
            protos = self._store.get_artifacts_by_id(ids)
            return [self._from_proto(p) for p in protos]

    def get_artifact(self, artifact_id: int) -> Artifact:
        found = self.get_artifacts([artifact_id])
        if not found:
            raise NotFoundError(f"no artifact with id {artifact_id} in {self.config.describe()}")
        return found[0]

    def put_artifact(self, artifact: Artifact) -> None:
        with self._lock:
            [artifact.id] = self._store.put_artifacts([self._to_proto(artifact)])

    def live_artifacts_of_type(self, pipeline_name: str, cls: type[Artifact]) -> list[Artifact]:
        with self._lock:
            context = self._store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
            if context is None:
                return []
            type_id = self._artifact_type_id(cls)
            protos = self._store.get_artifacts_by_context(context.id)
            return [
                self._from_proto(p)
                for p in protos
                if p.type_id == type_id and p.state == self._pb.Artifact.LIVE
            ]

    # -- runs ----------------------------------------------------------------------------------
    def begin_run(
        self, pipeline_name: str, run_id: str, node_ids: list[str], edges: dict[str, list[str]] | None = None,
        pipeline_root: str = "",
    ) -> RunRecord:
        """Create (or reopen) a run context; ``edges`` maps each node to its upstream nodes, so
        tools can draw the DAG even for components that never ran; ``pipeline_root`` tells
        ``penstock gc`` where the run's files are."""
        with self._lock:
            self.register_standard_types()
            self._context(PIPELINE_CONTEXT, pipeline_name)
            context = self._context(
                RUN_CONTEXT,
                run_id,
                {
                    "run_id": run_id,
                    "pipeline_name": pipeline_name,
                    "state": ExecutionState.RUNNING.value,
                    "start_ms": now_ms(),
                    "node_ids": json.dumps(node_ids),
                    "dag": json.dumps(edges or {}),
                    "pipeline_root": pipeline_root,
                },
            )
            return RunRecord(context)

    def update_run(self, run_id: str, **properties: Any) -> None:
        with self._lock:
            context = self._store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
            if context is None:
                raise NotFoundError(f"no run {run_id!r}")
            for k, v in properties.items():
                self._set(context.custom_properties, k, "" if v is None else v)
            self._store.put_contexts([context])
            self._context_cache[(RUN_CONTEXT, run_id)] = context

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            context = self._store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
        if context is None:
            raise NotFoundError(f"no run {run_id!r} in {self.config.describe()} (see `penstock runs`)")
        return RunRecord(context)

    def list_runs(self, pipeline_name: str | None = None) -> list[RunRecord]:
        with self._lock:
            contexts = self._store.get_contexts_by_type(RUN_CONTEXT)
        runs = [RunRecord(c) for c in contexts]
        if pipeline_name:
            runs = [r for r in runs if r.pipeline_name == pipeline_name]
        return sorted(runs, key=lambda r: r.start_ms, reverse=True)

    def latest_run(self, pipeline_name: str | None = None) -> RunRecord:
        runs = self.list_runs(pipeline_name)
        if not runs:
            raise NotFoundError(f"no runs recorded in {self.config.describe()}")
        return runs[0]

    # -- executions ----------------------------------------------------------------------------
    def _contexts_for(self, pipeline_name: str, run_id: str, node_id: str) -> list[Any]:
        """The contexts of an execution, as cached when first read. ML Metadata writes a context
        passed with an execution back to the store unless told not to (``force_reuse_context``):
        a cached run context would then undo what other processes (the other tasks of a Kubeflow
        or Airflow run) recorded on the run since, such as its FAILED state."""
        return [
            self._context(PIPELINE_CONTEXT, pipeline_name),
            self._context(RUN_CONTEXT, run_id),
            self._context(NODE_CONTEXT, f"{pipeline_name}.{node_id}"),
        ]

    def _events(self, inputs: dict[str, list[Artifact]], outputs: dict[str, Artifact]) -> list[tuple[Any, Any]]:
        """One event per artifact and direction; an artifact bound to several keys (a model that
        is both candidate and baseline) gets one (key, index) pair of path steps per binding, as
        TFX records it: ML Metadata allows a single event per artifact, execution and type."""
        pairs: list[tuple[Any, Any]] = []
        for direction, groups in ((self._pb.Event.INPUT, inputs), (self._pb.Event.OUTPUT, {k: [a] for k, a in outputs.items()})):
            seen: dict[int, Any] = {}
            for key, artifacts in groups.items():
                for index, artifact in enumerate(artifacts):
                    event = seen.get(artifact.id) if artifact.id is not None else None
                    if event is None:
                        event = self._pb.Event(type=direction)
                        pairs.append((self._to_proto(artifact), event))
                        if artifact.id is not None:
                            seen[artifact.id] = event
                    event.path.steps.add().key = key
                    event.path.steps.add().index = index
        return pairs

    def record_execution(
        self,
        *,
        pipeline_name: str,
        run_id: str,
        node_id: str,
        type_name: str,
        state: ExecutionState,
        inputs: dict[str, list[Artifact]],
        outputs: dict[str, Artifact],
        properties: dict[str, Any],
    ) -> int:
        """Write a new execution with its events; new output artifacts get ids."""
        with self._lock:
            execution = self._pb.Execution(
                type_id=self._execution_type_id(type_name),
                last_known_state=getattr(self._pb.Execution, state),
            )
            props = {"component_id": node_id, "run_id": run_id, "pipeline_name": pipeline_name, **properties}
            props.setdefault("start_ms", now_ms())
            for k, v in props.items():
                self._set(execution.custom_properties, k, v)
            events = self._events(inputs, outputs)
            execution_id, artifact_ids, _ = self._store.put_execution(
                execution, events, self._contexts_for(pipeline_name, run_id, node_id),
                reuse_context_if_already_exist=True, force_reuse_context=True,  # see _contexts_for
            )
            output_protos = len(events) - len(outputs)
            for artifact, artifact_id in zip(outputs.values(), artifact_ids[output_protos:]):
                artifact.id = artifact_id
            if state == ExecutionState.RUNNING:
                execution.id = execution_id
                self._open_executions[execution_id] = execution
            return int(execution_id)

    def record_cached_executions(self, records: list[dict[str, Any]]) -> None:
        """Write many CACHED executions (each: the keyword arguments of ``record_execution``)
        in two transactions, instead of one per execution: a fully cached run stays cheap."""
        if not records:
            return
        with self._lock:
            executions: list[Any] = []
            artifacts: list[Any] = []
            edges: list[Any] = []
            node_contexts: list[Any] = []
            artifact_index: dict[int, int] = {}
            for position, record in enumerate(records):
                execution = self._pb.Execution(
                    type_id=self._execution_type_id(record["type_name"]),
                    last_known_state=self._pb.Execution.CACHED,
                )
                props = {"component_id": record["node_id"], "run_id": record["run_id"],
                         "pipeline_name": record["pipeline_name"], "start_ms": now_ms(), **record["properties"]}
                for k, v in props.items():
                    self._set(execution.custom_properties, k, v)
                executions.append(execution)
                node_contexts.append(self._context(NODE_CONTEXT, f"{record['pipeline_name']}.{record['node_id']}"))
                for proto, event in self._events(record["inputs"], record["outputs"]):
                    if proto.id not in artifact_index:
                        artifact_index[proto.id] = len(artifacts)
                        artifacts.append(proto)
                    edges.append((position, artifact_index[proto.id], event))
            first = records[0]
            # By type and name, not id: a context with an id would be written back (see _contexts_for).
            shared = [self._pb.Context(type_id=c.type_id, name=c.name) for c in
                      (self._context(PIPELINE_CONTEXT, first["pipeline_name"]), self._context(RUN_CONTEXT, first["run_id"]))]
            execution_ids, _, _ = self._store.put_lineage_subgraph(
                executions, artifacts, shared, edges, reuse_context_if_already_exist=True
            )
            associations = [
                self._pb.Association(execution_id=eid, context_id=ctx.id)
                for eid, ctx in zip(execution_ids, node_contexts)
            ]
            self._store.put_attributions_and_associations([], associations)

    def finish_execution(
        self,
        execution_id: int,
        *,
        pipeline_name: str,
        run_id: str,
        node_id: str,
        state: ExecutionState,
        outputs: dict[str, Artifact],
        properties: dict[str, Any],
    ) -> None:
        """Move an execution to its final state and record its outputs, in one transaction.

        Outputs are first written here, already LIVE: an artifact never exists in the store
        before its files are published."""
        with self._lock:
            execution = self._open_executions.pop(execution_id, None)
            if execution is None:
                [execution] = self._store.get_executions_by_id([execution_id])
            execution.last_known_state = getattr(self._pb.Execution, state)
            for k, v in {"end_ms": now_ms(), **properties}.items():
                self._set(execution.custom_properties, k, v)
            pairs = []
            for key, artifact in outputs.items():
                event = None
                if artifact.id is None:  # first appearance: link it to its producer
                    event = self._pb.Event(type=self._pb.Event.OUTPUT)
                    event.path.steps.add().key = key
                    event.path.steps.add().index = 0
                pairs.append((self._to_proto(artifact), event))
            _, artifact_ids, _ = self._store.put_execution(
                execution, pairs, self._contexts_for(pipeline_name, run_id, node_id),
                reuse_context_if_already_exist=True, force_reuse_context=True,  # see _contexts_for
            )
            for artifact, artifact_id in zip(outputs.values(), artifact_ids):
                artifact.id = artifact_id

    def _records(self, protos: list[Any]) -> list[ExecutionRecord]:
        return [ExecutionRecord(p, self._execution_type_name(p.type_id)) for p in protos]

    def run_executions(self, run_id: str) -> list[ExecutionRecord]:
        with self._lock:
            context = self._store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
            if context is None:
                raise NotFoundError(f"no run {run_id!r} (see `penstock runs`)")
            records = self._records(self._store.get_executions_by_context(context.id))
        return sorted(records, key=lambda e: e.id)

    def node_executions(self, pipeline_name: str, node_id: str) -> list[ExecutionRecord]:
        with self._lock:
            context = self._store.get_context_by_type_and_name(NODE_CONTEXT, f"{pipeline_name}.{node_id}")
            if context is None:
                return []
            return sorted(self._records(self._store.get_executions_by_context(context.id)), key=lambda e: e.id)

    def pipeline_executions(self, pipeline_name: str) -> list[ExecutionRecord]:
        with self._lock:
            context = self._store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
            if context is None:
                return []
            return self._records(self._store.get_executions_by_context(context.id))

    def get_execution(self, execution_id: int) -> ExecutionRecord:
        with self._lock:
            protos = self._store.get_executions_by_id([execution_id])
            if not protos:
                raise NotFoundError(f"no execution {execution_id}")
            return self._records(protos)[0]

    def execution_artifacts(self, execution_id: int) -> tuple[dict[str, list[Artifact]], dict[str, list[Artifact]]]:
        """(inputs, outputs) of an execution, keyed by input/output name, in event order."""
        with self._lock:
            events = self._store.get_events_by_execution_ids([execution_id])
            artifacts = {a.id: a for a in self.get_artifacts({e.artifact_id for e in events})}
        inputs: dict[str, list[Artifact]] = {}
        outputs: dict[str, list[Artifact]] = {}
        bindings: list[tuple[int, str, dict[str, list[Artifact]], Artifact]] = []
        for event in events:
            if event.artifact_id not in artifacts:
                continue
            target = inputs if event.type in (self._pb.Event.INPUT, self._pb.Event.DECLARED_INPUT) else outputs
            key = ""
            for step in event.path.steps:  # (key, index) pairs, one per binding
                if step.HasField("key"):
                    key = step.key
                elif step.HasField("index"):
                    bindings.append((step.index, key, target, artifacts[event.artifact_id]))
        for _, key, target, artifact in sorted(bindings, key=lambda b: b[0]):
            target.setdefault(key, []).append(artifact)
        return inputs, outputs

    def artifact_events(self, artifact_id: int) -> list[tuple[str, int]]:
        """(INPUT|OUTPUT, execution id) for every event touching an artifact."""
        with self._lock:
            events = self._store.get_events_by_artifact_ids([artifact_id])
        return [(self._pb.Event.Type.Name(e.type), e.execution_id) for e in events]

    def artifacts_under(self, prefix: str) -> list[Artifact]:
        """Every artifact whose uri lies under ``prefix`` (any state)."""
        base = prefix.rstrip("/") + "/"
        with self._lock:
            protos = self._store.get_artifacts()
            return [self._from_proto(p) for p in protos if p.uri.startswith(base)]

    def get_executions(self, ids: Iterable[int]) -> dict[int, ExecutionRecord]:
        with self._lock:
            return {r.id: r for r in self._records(self._store.get_executions_by_id(list(ids)))}
