"""Shared by the Kubeflow and Airflow tests: a small pipeline file of function components, and a
snapshot of what a run recorded in ML Metadata, to compare runs made by different orchestrators."""

from __future__ import annotations

import hashlib
import os
import pathlib
import textwrap
from typing import Any

from penstock.metadata.store import MetadataStore

# Three components, a diamond-free chain plus a side branch: files, custom properties, value
# outputs (OutputDict) and a retry policy, everything a compiled task must carry over.
TINY_PIPELINE = textwrap.dedent('''
    import os

    from penstock.dsl.function_component import InputArtifact, OutputArtifact, OutputDict, component
    from penstock.dsl.pipeline import Pipeline
    from penstock.dsl.standard_artifacts import Examples, Model, ModelEvaluation


    @component
    def make_data(examples: OutputArtifact[Examples], rows: int = 3):
        os.makedirs(os.path.join(examples.uri, "Split-train"))
        with open(os.path.join(examples.uri, "Split-train", "data.txt"), "w") as f:
            f.write("\\n".join(str(i) for i in range(rows)))
        examples.split_names = ["train"]
        examples.custom_properties["rows"] = rows


    @component
    def train(examples: InputArtifact[Examples], model: OutputArtifact[Model], scale: float = 1.0) -> OutputDict(total=float):
        rows = [int(x) for x in open(os.path.join(examples.split_uri("train"), "data.txt")).read().split()]
        total = sum(rows) * scale
        with open(os.path.join(model.uri, "model.txt"), "w") as f:
            f.write(str(total))
        return {"total": total}


    @component
    def evaluate(model: InputArtifact[Model], examples: InputArtifact[Examples], evaluation: OutputArtifact[ModelEvaluation]):
        with open(os.path.join(evaluation.uri, "metrics.txt"), "w") as f:
            f.write(open(os.path.join(model.uri, "model.txt")).read() + " on " + ",".join(examples.split_names))
        evaluation.custom_properties["ok"] = 1


    data = make_data(rows=5)
    trainer = train(examples=data.outputs.examples, scale=2.0).with_retry(max_attempts=3, backoff_seconds=2)
    evaluator = evaluate(model=trainer.outputs.model, examples=data.outputs.examples)
    pipeline = Pipeline("tiny", [data, trainer, evaluator])
''')


def write_tiny_pipeline(directory: pathlib.Path) -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pipeline.py"
    path.write_text(TINY_PIPELINE)
    return path


def run_snapshot(metadata_path: str | os.PathLike[str], run_id: str) -> dict[str, Any]:
    """component -> state and, per output key, the artifact's type, properties and files (by
    relative path and content hash): everything that must not depend on the orchestrator."""
    from penstock.metadata.connection import sqlite

    store = MetadataStore(sqlite(str(metadata_path)))
    snapshot: dict[str, Any] = {}
    for record in store.run_executions(run_id):
        _, outputs = store.execution_artifacts(record.id)
        snapshot[record.component_id] = {
            "state": record.state,
            "outputs": {
                key: [
                    {
                        "type": artifact.TYPE_NAME,
                        "properties": dict(artifact.properties),
                        "custom_properties": dict(artifact.custom_properties),
                        "files": _files(artifact.uri),
                    }
                    for artifact in artifacts
                ]
                for key, artifacts in outputs.items()
            },
        }
    return snapshot


def _files(uri: str) -> dict[str, str]:
    files = {}
    for path in sorted(pathlib.Path(uri).rglob("*")):
        if path.is_file():
            files[str(path.relative_to(uri))] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return files
