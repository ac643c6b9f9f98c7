"""Model versions as ML Metadata recorded them: pushes, blessings, training data, code, parameters.

A *model* is a name the Pusher pushed under (``PushedModel.model_name``); a *version* is one
successful push (``pushed_version``). From each push the catalog walks the recorded lineage:

- the Pusher execution: when, in which run, where to, with which Model and InfraBlessing;
- every ModelBlessing judging that Model (``model_id``): the Evaluator's, with the per-slice
  metrics and thresholds of the ModelEvaluation it wrote next to it, and ``penstock bless``'s
  manual ones (who, when, why);
- the Trainer execution that produced the Model: parameters and hyperparameters, its
  ``base_model`` input (warm start), and upstream of it (never through another Model) the user
  code fingerprints of every execution (Transform, Trainer) and the source Examples (ExampleGen
  spans, versions, row counts, input files and the input fingerprint of its cache key);
- ``penstock rollback`` executions naming the model.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from penstock.dsl.artifact import Artifact
from penstock.errors import NotFoundError
from penstock.metadata.store import ExecutionRecord, MetadataStore
from penstock.report.model import when
from penstock.storage import filesystem, layout

MANUAL_BLESSING_TYPE = "penstock.ManualBlessing"  # written by penstock.cli.bless
ROLLBACK_TYPE = "penstock.Rollback"  # written by penstock.registry.rollback
# Parameters that name user code: shown as code (with fingerprints), not as hyperparameters.
_CODE_PARAMETERS = ("module_file", "run_fn", "preprocessing_fn")


@dataclasses.dataclass
class ModelVersion:
    """One pushed version and everything recorded about it (``view()``: a JSON-ready dict)."""

    name: str
    version: int
    pushed: Artifact
    model: Artifact | None
    push_execution: ExecutionRecord | None
    details: dict[str, Any]

    @property
    def blessed(self) -> bool:
        return any(b["blessed"] for b in self.details["blessings"])

    @property
    def destination(self) -> str:
        return str(self.pushed.custom_properties.get("pushed_destination", ""))

    @property
    def serving_dir(self) -> str:
        """The push destination (``<serving dir>/<name>/<version>`` -> ``<serving dir>``)."""
        return filesystem.dirname(filesystem.dirname(self.destination)) if self.destination else ""

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "blessed": self.blessed, **self.details}


class Catalog:
    """Reads the registry's facts from one metadata store; memoizes lookups for one request."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self._executions: dict[int, ExecutionRecord] = {}
        self._io: dict[int, tuple[dict[str, list[Artifact]], dict[str, list[Artifact]]]] = {}
        self._events: dict[int, list[tuple[str, int]]] = {}
        self._versions: dict[str, list[ModelVersion]] | None = None

    # -- memoized store access -------------------------------------------------------------------
    def execution(self, execution_id: int) -> ExecutionRecord:
        if execution_id not in self._executions:
            self._executions[execution_id] = self.store.get_execution(execution_id)
        return self._executions[execution_id]

    def io(self, execution_id: int) -> tuple[dict[str, list[Artifact]], dict[str, list[Artifact]]]:
        if execution_id not in self._io:
            self._io[execution_id] = self.store.execution_artifacts(execution_id)
        return self._io[execution_id]

    def _artifact_events(self, artifact_id: int) -> list[tuple[str, int]]:
        if artifact_id not in self._events:
            self._events[artifact_id] = self.store.artifact_events(artifact_id)
        return self._events[artifact_id]

    def producer(self, artifact: Artifact) -> ExecutionRecord | None:
        """The execution that first wrote the artifact (later CACHED executions only reuse it)."""
        ids = sorted(eid for kind, eid in self._artifact_events(artifact.id or 0) if kind == "OUTPUT")
        return self.execution(ids[0]) if ids else None

    def consumers(self, artifact: Artifact) -> list[ExecutionRecord]:
        ids = sorted(eid for kind, eid in self._artifact_events(artifact.id or 0) if kind in ("INPUT", "DECLARED_INPUT"))
        return [self.execution(i) for i in ids]

    def pipelines(self) -> list[str]:
        return sorted({run.pipeline_name for run in self.store.list_runs() if run.pipeline_name})

    # -- models and versions ---------------------------------------------------------------------
    def _all_versions(self) -> dict[str, list[ModelVersion]]:
        if self._versions is None:
            from penstock.dsl.standard_artifacts import PushedModel

            found: dict[tuple[str, int], ModelVersion] = {}
            for pipeline in self.pipelines():
                for pushed in self.store.live_artifacts_of_type(pipeline, PushedModel):
                    if pushed.get_property("pushed") != 1 or pushed.get_property("pushed_version") is None:
                        continue
                    name = str(pushed.custom_properties.get("model_name") or pipeline)
                    version = int(pushed.get_property("pushed_version"))
                    key = (name, version)
                    # One (name, version) pushed twice means two destinations: the newest push wins.
                    if key not in found or (found[key].pushed.id or 0) < (pushed.id or 0):
                        found[key] = self._version(name, version, pushed)
            by_name: dict[str, list[ModelVersion]] = {}
            for (name, _), entry in sorted(found.items()):
                by_name.setdefault(name, []).append(entry)
            self._versions = by_name
        return self._versions

    def model_names(self) -> list[str]:
        return sorted(self._all_versions())

    def versions(self, name: str) -> list[ModelVersion]:
        """Every pushed version of ``name``, oldest first; NotFoundError naming the known models."""
        versions = self._all_versions().get(name)
        if not versions:
            known = ", ".join(self.model_names()) or "none"
            raise NotFoundError(f"no pushed versions of model {name!r} in {self.store.config.describe()} "
                                f"(models pushed: {known})")
        return versions

    def version(self, name: str, version: int) -> ModelVersion:
        for entry in self.versions(name):
            if entry.version == version:
                return entry
        pushed = ", ".join(str(v.version) for v in self.versions(name))
        raise NotFoundError(f"model {name!r} has no pushed version {version} in ML Metadata (pushed versions: {pushed})")

    def version_of_model(self, model_id: int) -> ModelVersion | None:
        """The version a Model artifact was pushed as (its first push), if it was."""
        for versions in self._all_versions().values():
            for entry in versions:
                if entry.model is not None and entry.model.id == model_id:
                    return entry
        return None

    def rollbacks(self, name: str) -> list[dict[str, Any]]:
        """``penstock rollback`` records for model ``name``, oldest first."""
        found = []
        for pipeline in self.pipelines():
            for record in self.store.pipeline_executions(pipeline):
                if record.type_name == ROLLBACK_TYPE and record.properties.get("model_name") == name:
                    props = record.properties
                    found.append({
                        "execution_id": record.id, "run_id": record.run_id, "at_ms": record.start_ms,
                        "at": when(record.start_ms), "by": props.get("by", ""), "reason": props.get("reason", ""),
                        "to": props.get("to", ""), "before": props.get("before", ""),
                        "serving_dir": props.get("serving_dir", ""), "forced": bool(props.get("forced", 0)),
                    })
        return sorted(found, key=lambda r: (r["at_ms"], r["execution_id"]))

    # -- one version -----------------------------------------------------------------------------
    def version_for_push(self, pushed: Artifact) -> ModelVersion | None:
        """The registry entry of one PushedModel (None when it was not pushed), without reading
        the rest of the store: what a run's report shows."""
        if pushed.get_property("pushed") != 1 or pushed.get_property("pushed_version") is None:
            return None
        push = self.producer(pushed)
        pipeline = push.properties.get("pipeline_name", "") if push else ""
        name = str(pushed.custom_properties.get("model_name") or pipeline)
        return self._version(name, int(pushed.get_property("pushed_version")), pushed)

    def _version(self, name: str, version: int, pushed: Artifact) -> ModelVersion:
        push = self.producer(pushed)
        inputs = self.io(push.id)[0] if push is not None else {}
        model = _first(inputs, "model")
        infra = _first(inputs, "infra_blessing")
        details: dict[str, Any] = {
            "pushed_at_ms": push.end_ms if push else None,
            "pushed_at": when(push.end_ms if push else None),
            "pushed_by_run": push.run_id if push else "",
            "pipeline": push.properties.get("pipeline_name", "") if push else "",
            "push_execution": push.id if push else None,
            "pushed_artifact": pushed.id,
            "destination": pushed.custom_properties.get("pushed_destination", ""),
            "model": None, "blessings": [], "infra_blessed": None, "data": [], "code": {},
            "hyperparameters": {}, "training_parameters": {}, "base_model": None,
        }
        if infra is not None:
            details["infra_blessed"] = infra.get_property("blessed") == 1
        if model is not None:
            details.update(self._model_details(model))
        return ModelVersion(name, version, pushed, model, push, details)

    def _model_details(self, model: Artifact) -> dict[str, Any]:
        trainer = self.producer(model)
        details: dict[str, Any] = {
            "model": {"id": model.id, "uri": model.uri,
                      "trained_by_run": trainer.run_id if trainer else "",
                      "trainer": trainer.component_id if trainer else "",
                      "trained_at": when(trainer.end_ms if trainer else None)},
            "blessings": self._blessings(model),
        }
        if trainer is None:
            return details
        inputs, _ = self.io(trainer.id)
        details["hyperparameters"] = self._hyperparameters(trainer, inputs)
        details["training_parameters"] = {k: v for k, v in sorted(trainer.parameters.items())
                                          if k not in _CODE_PARAMETERS and k != "hyperparameters"}
        base = _first(inputs, "base_model")
        if base is not None:
            details["base_model"] = {"id": base.id, "uri": base.uri}
        details["data"], details["code"] = self._upstream(trainer)
        return details

    def _hyperparameters(self, trainer: ExecutionRecord, inputs: dict[str, list[Artifact]]) -> dict[str, Any]:
        artifact = _first(inputs, "hyperparameters")
        if artifact is not None:  # a tuner's HyperParameters artifact wins over the parameter, as in the Trainer
            try:
                loaded = filesystem.read_json(filesystem.join(artifact.uri, layout.HYPERPARAMETERS_FILE))
            except (OSError, ValueError) as e:
                return {"error": f"cannot read HyperParameters {artifact.id}: {e}"}
            values = loaded.get("values", loaded) if isinstance(loaded, dict) else loaded
            return dict(values) if isinstance(values, dict) else {"value": values}
        value = trainer.parameters.get("hyperparameters")
        return dict(value) if isinstance(value, dict) else {}

    def _blessings(self, model: Artifact) -> list[dict[str, Any]]:
        """Every ModelBlessing that judges ``model`` (not those where it was only the baseline)."""
        from penstock.report.evaluation import read_evaluation

        found = []
        for execution in self.consumers(model):
            _, outputs = self.io(execution.id)
            for blessing in outputs.get("blessing", []):
                if blessing.TYPE_NAME != "ModelBlessing" or blessing.get_property("model_id") != model.id:
                    continue
                props = blessing.custom_properties
                manual = execution.type_name == MANUAL_BLESSING_TYPE
                view: dict[str, Any] = {
                    "kind": "manual" if manual else "evaluator",
                    "blessed": blessing.get_property("blessed") == 1,
                    "artifact_id": blessing.id, "component": execution.component_id, "run_id": execution.run_id,
                    "at": when(execution.end_ms or execution.start_ms),
                    "explanation": props.get("explanation", ""),
                }
                if manual:
                    view.update(by=props.get("forced_by", ""), reason=props.get("forced_reason", ""),
                                at=props.get("forced_at", view["at"]))
                else:
                    view["baseline_model_id"] = props.get("baseline_model_id")
                    evaluation = _first(outputs, "evaluation")
                    if evaluation is not None:
                        read = read_evaluation(evaluation)
                        view["evaluation"] = {"artifact_id": evaluation.id, "metrics": read["metrics"],
                                              "errors": read["errors"]}
                found.append(view)
        return found

    def _upstream(self, trainer: ExecutionRecord) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
        """(source data, user code per component) upstream of the Trainer, never crossing a Model
        (a base model or baseline has lineage of its own)."""
        data: list[dict[str, Any]] = []
        code: dict[str, dict[str, str]] = {}
        seen: set[int] = set()
        frontier = [trainer]
        while frontier:
            execution = frontier.pop()
            if execution.id in seen:
                continue
            seen.add(execution.id)
            key = json.loads(execution.cache_key_json) if execution.cache_key_json else {}
            if key.get("user_code"):
                code[execution.component_id] = dict(key["user_code"])
            inputs, outputs = self.io(execution.id)
            upstream = [a for arts in inputs.values() for a in arts if a.TYPE_NAME != "Model"]
            if not any(a.TYPE_NAME == "Examples" for a in upstream):
                for artifact in (a for arts in outputs.values() for a in arts if a.TYPE_NAME == "Examples"):
                    data.append(_source_view(artifact, execution, key))
            for artifact in upstream:
                producer = self.producer(artifact)
                if producer is not None:
                    frontier.append(producer)
        return sorted(data, key=lambda d: d["artifact_id"] or 0), dict(sorted(code.items()))


def _first(artifacts: dict[str, list[Artifact]], key: str) -> Artifact | None:
    """The first artifact bound to ``key`` (inputs and outputs hold one each), if any."""
    found = artifacts.get(key) or []
    return found[0] if found else None


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _source_view(examples: Artifact, execution: ExecutionRecord, key: dict[str, Any]) -> dict[str, Any]:
    props = examples.custom_properties
    return {
        "artifact_id": examples.id, "component": execution.component_id, "run_id": execution.run_id,
        "span": examples.properties.get("span"), "data_version": examples.properties.get("version"),
        "row_counts": _json_or_text(props.get("row_counts", {})),
        "input_files": _json_or_text(props.get("input_files", [])),
        "spans": _json_or_text(props.get("spans", [])),
        # ExampleGen's cache key holds its input fingerprint (file names, sizes, modification times)
        "input_fingerprint": dict(key.get("external_inputs") or {}),
        "uri": examples.uri,
    }
