"""Gathers everything a run report shows from ML Metadata into plain, JSON-serializable dicts.

The DAG is rebuilt from recorded events (which execution consumed which execution's outputs);
components that never executed in the run (skipped after a failure) borrow their edges from
their latest execution in the pipeline's history. Artifact contents (TFDV statistics,
anomalies, TFMA metrics) are read by ``data_views`` and ``evaluation``; TFMA is imported only
when the run has a ModelEvaluation.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from penstock.dsl.artifact import Artifact
from penstock.metadata.lineage import Lineage
from penstock.metadata.states import ExecutionState
from penstock.metadata.store import ExecutionRecord, MetadataStore, RunRecord

NOT_RUN = "NOT RUN"
# Custom properties that say where data came from: shown prominently in the lineage.
_SOURCE_PROPERTIES = ("input_files", "input_path", "input_base", "input_uri", "source", "input_config", "spans")
_LONG = 400


def when(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def run_summary(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "pipeline_name": run.pipeline_name,
        "state": run.state,
        "start_ms": run.start_ms,
        "started": when(run.start_ms),
        "duration_s": run.duration_s,
        "error": run.error,
        "node_ids": list(run.node_ids),
    }


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _LONG else text[:_LONG] + f"… ({len(text)} chars)"


def artifact_view(artifact: Artifact) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "type": artifact.TYPE_NAME,
        "uri": artifact.uri,
        "state": artifact.state.value,
        "properties": {k: _short(v) for k, v in sorted(artifact.properties.items())},
        "custom_properties": {k: _short(v) for k, v in sorted(artifact.custom_properties.items())},
    }


def _duration(record: ExecutionRecord) -> float | None:
    duration = record.duration_s
    return None if duration is None else max(0.0, duration)


class RunReport:
    """Collects one run's report data; ``gather()`` returns it as a dict."""

    def __init__(self, store: MetadataStore, run_id: str | None = None) -> None:
        self.store = store
        self.run = store.get_run(run_id) if run_id else store.latest_run()
        self.records = store.run_executions(self.run.run_id)
        self._artifacts: dict[int, tuple[dict[str, list[Artifact]], dict[str, list[Artifact]]]] = {}
        self._producer_component: dict[int, str] = {}

    def _io(self, execution_id: int) -> tuple[dict[str, list[Artifact]], dict[str, list[Artifact]]]:
        if execution_id not in self._artifacts:
            self._artifacts[execution_id] = self.store.execution_artifacts(execution_id)
        return self._artifacts[execution_id]

    # -- executions and DAG ----------------------------------------------------------------------
    def _latest_per_node(self) -> dict[str, ExecutionRecord]:
        latest: dict[str, ExecutionRecord] = {}
        for record in self.records:  # sorted by id: the last attempt wins
            latest[record.component_id] = record
        return latest

    def _component_of_artifact(self, artifact_id: int) -> str | None:
        if artifact_id not in self._producer_component:
            producers = [eid for kind, eid in self.store.artifact_events(artifact_id) if kind == "OUTPUT"]
            component = self.store.get_execution(producers[0]).component_id if producers else ""
            self._producer_component[artifact_id] = component
        return self._producer_component[artifact_id] or None

    def nodes_and_edges(self) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        latest = self._latest_per_node()
        attempts: dict[str, int] = {}
        for attempt in self.records:
            attempts[attempt.component_id] = attempts.get(attempt.component_id, 0) + 1
        node_ids = list(self.run.node_ids) or list(latest)
        node_ids += [nid for nid in latest if nid not in node_ids]
        for executed in self.records:
            _, outputs = self._io(executed.id)
            for arts in outputs.values():
                for a in arts:
                    if a.id is not None:
                        self._producer_component[a.id] = executed.component_id
        nodes = []
        # Runs record their DAG; older runs fall back to the wiring seen in the events below.
        edges: set[tuple[str, str]] = {
            (upstream, nid) for nid, ups in self.run.dag.items() for upstream in ups if upstream in node_ids
        }
        for nid in node_ids:
            record = latest.get(nid)
            if self.run.dag:
                nodes.append(self._node_view(nid, record, attempts.get(nid, 0)))
                continue
            source: ExecutionRecord | None = record
            if record is None:  # never executed here: take the wiring from its history
                history = self.store.node_executions(self.run.pipeline_name, nid)
                source = history[-1] if history else None
            if source is not None:
                inputs, _ = self._io(source.id)
                for arts in inputs.values():
                    for a in arts:
                        upstream = self._component_of_artifact(a.id) if a.id is not None else None
                        if upstream and upstream != nid and upstream in node_ids:
                            edges.add((upstream, nid))
            nodes.append(self._node_view(nid, record, attempts.get(nid, 0)))
        return nodes, [{"source": s, "target": t} for s, t in sorted(edges)]

    def _node_view(self, nid: str, record: ExecutionRecord | None, attempts: int) -> dict[str, Any]:
        if record is None:
            state = ExecutionState.SKIPPED if self.run.state in (ExecutionState.FAILED, ExecutionState.COMPLETE) else NOT_RUN
            return {"id": nid, "state": state, "type": "", "execution_id": None, "duration_s": None,
                    "cache_decision": "", "error": "", "attempts": 0, "outputs": [], "inputs": []}
        inputs, outputs = self._io(record.id)
        return {
            "id": nid,
            "state": record.state,
            "type": record.type_name.rsplit(".", 1)[-1],
            "execution_id": record.id,
            "duration_s": _duration(record),
            "cache_decision": record.cache_decision or "",
            "error": record.error or "",
            "attempts": attempts,
            "inputs": [{"key": k, **artifact_view(a)} for k, arts in inputs.items() for a in arts],
            "outputs": [{"key": k, **artifact_view(a)} for k, arts in outputs.items() for a in arts],
        }

    def timeline(self) -> list[dict[str, Any]]:
        """One bar per execution attempt, in seconds since the run started."""
        origin = min([self.run.start_ms, *[r.start_ms for r in self.records]])
        bars = []
        seen: dict[str, int] = {}
        for record in self.records:
            seen[record.component_id] = seen.get(record.component_id, 0) + 1
            # A cached execution may be written after its end time was taken: never end before starting.
            end_ms = max(record.end_ms or record.start_ms, record.start_ms)
            bars.append({
                "component": record.component_id,
                "attempt": seen[record.component_id],
                "state": record.state,
                "start_s": (record.start_ms - origin) / 1000,
                "end_s": (end_ms - origin) / 1000,
                "duration_s": (end_ms - record.start_ms) / 1000,
            })
        return bars

    # -- artifacts -------------------------------------------------------------------------------
    def outputs_of_type(self, type_name: str) -> list[tuple[str, Artifact]]:
        """(component id, artifact) for every output of ``type_name`` in the run, deduplicated."""
        found: dict[int, tuple[str, Artifact]] = {}
        for record in self._latest_per_node().values():
            _, outputs = self._io(record.id)
            for arts in outputs.values():
                for a in arts:
                    if a.TYPE_NAME == type_name and a.id is not None:
                        found.setdefault(a.id, (record.component_id, a))
        return list(found.values())

    def statistics(self) -> list[dict[str, Any]]:
        from penstock.report.data_views import read_statistics

        return [{"component": c, "artifact": artifact_view(a), **read_statistics(a)}
                for c, a in self.outputs_of_type("ExampleStatistics")]

    def anomalies(self) -> list[dict[str, Any]]:
        from penstock.report.data_views import read_anomalies

        return [{"component": c, "artifact": artifact_view(a), **read_anomalies(a)}
                for c, a in self.outputs_of_type("ExampleAnomalies")]

    def evaluations(self) -> list[dict[str, Any]]:
        found = self.outputs_of_type("ModelEvaluation")
        if not found:
            return []
        from penstock.report.evaluation import read_evaluation

        return [{"component": c, "artifact": artifact_view(a), **read_evaluation(a)} for c, a in found]

    def blessings(self) -> list[dict[str, Any]]:
        views = []
        for type_name in ("ModelBlessing", "InfraBlessing"):
            for component, a in self.outputs_of_type(type_name):
                blessed = a.properties.get("blessed")
                views.append({
                    "component": component,
                    "kind": type_name,
                    "blessed": None if blessed is None else bool(blessed),
                    "explanation": a.custom_properties.get("explanation", ""),
                    "model_id": a.properties.get("model_id"),
                    "artifact": artifact_view(a),
                })
        return views

    def pushes(self) -> list[dict[str, Any]]:
        views = []
        for component, a in self.outputs_of_type("PushedModel"):
            pushed = a.properties.get("pushed")
            views.append({
                "component": component,
                "pushed": None if pushed is None else bool(pushed),
                "pushed_version": a.properties.get("pushed_version"),
                "destination": a.custom_properties.get("pushed_destination", ""),
                "reason": a.custom_properties.get("reason", ""),
                "artifact": artifact_view(a),
            })
        return views

    def model_versions(self) -> list[dict[str, Any]]:
        """The registry's view of each version this run pushed (``penstock models NAME`` shows the same)."""
        pushed = [a for _, a in self.outputs_of_type("PushedModel") if a.properties.get("pushed")]
        if not pushed:
            return []
        from penstock.registry.catalog import Catalog

        catalog = Catalog(self.store)
        versions = [catalog.version_for_push(a) for a in pushed]
        return [v.view() for v in versions if v is not None]

    # -- lineage ---------------------------------------------------------------------------------
    def lineage(self) -> dict[str, Any] | None:
        """Upstream graph of the pushed model (else the run's model) down to the input files."""
        pushed = [a for _, a in self.outputs_of_type("PushedModel") if a.properties.get("pushed")]
        candidates = pushed or [a for _, a in self.outputs_of_type("PushedModel")] or [
            a for _, a in self.outputs_of_type("Model")
        ]
        if not candidates:
            return None
        root = candidates[-1]
        assert root.id is not None
        graph = Lineage(self.store)
        artifact_ids = {root.id} | graph.upstream(root.id)
        artifacts = {a.id: a for a in self.store.get_artifacts(artifact_ids)}
        executions: dict[int, ExecutionRecord] = {}
        edges: set[tuple[str, str]] = set()
        for artifact_id in artifact_ids:
            producers = graph.producers(artifact_id)[:1]
            for execution_id in producers:
                record = executions.get(execution_id) or self.store.get_execution(execution_id)
                executions[execution_id] = record
                edges.add((f"e{execution_id}", f"a{artifact_id}"))
                inputs, _ = self._io(execution_id)
                for arts in inputs.values():
                    for a in arts:
                        if a.id in artifact_ids:
                            edges.add((f"a{a.id}", f"e{execution_id}"))
        nodes = [{"id": f"a{aid}", "label": f"#{aid} {a.TYPE_NAME}", "kind": "artifact",
                  "detail": a.uri} for aid, a in sorted(artifacts.items())]
        nodes += [{"id": f"e{eid}", "label": r.component_id, "kind": "execution",
                   "detail": f"execution {eid}, {r.state}, run {r.run_id}"} for eid, r in sorted(executions.items())]
        producing = {int(t[1:]) for s, t in edges if s.startswith("e")}
        sources = []
        for aid, a in sorted(artifacts.items()):
            from_data = {k: _short(v) for k, v in a.custom_properties.items() if k in _SOURCE_PROPERTIES}
            if from_data or aid not in producing:
                sources.append({"artifact": artifact_view(a), "source_properties": from_data})
        return {
            "root": artifact_view(root),
            "nodes": nodes,
            "edges": [{"source": s, "target": t} for s, t in sorted(edges)],
            "artifacts": [artifact_view(a) for _, a in sorted(artifacts.items())],
            "sources": sources,
        }

    def gather(self) -> dict[str, Any]:
        nodes, edges = self.nodes_and_edges()
        return {
            "run": run_summary(self.run),
            "nodes": nodes,
            "edges": edges,
            "timeline": self.timeline(),
            "statistics": self.statistics(),
            "anomalies": self.anomalies(),
            "evaluations": self.evaluations(),
            "blessings": self.blessings(),
            "pushes": self.pushes(),
            "model_versions": self.model_versions(),
            "lineage": self.lineage(),
            "generated": when(int(datetime.datetime.now().timestamp() * 1000)),
        }


def gather_run(store: MetadataStore, run_id: str | None = None) -> dict[str, Any]:
    """Everything the report shows about ``run_id`` (default: the latest run)."""
    return RunReport(store, run_id).gather()
