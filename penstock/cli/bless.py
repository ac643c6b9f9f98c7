"""``penstock bless --force ARTIFACT_ID --reason "..."``: a human overrides the Evaluator.

Sometimes a model must ship although a threshold failed (a known-bad slice, a metric that moved
for a good reason). The override is not a silent property edit: it is recorded in ML Metadata as
an execution of type ``penstock.ManualBlessing`` (who, when, why) that consumes the model (and the
blessing it overrides) and produces a new ModelBlessing with ``blessed=1``. The new blessing
belongs to the model's pipeline, so ``Resolver(LatestBlessedModel(), ...)`` takes the model as the
baseline from then on, and ``penstock lineage`` shows the override.
"""

from __future__ import annotations

import datetime
import getpass
import json
import os
import secrets
import time
from typing import Any

import click

from penstock import settings
from penstock.cli.inspect import metadata_option, open_store
from penstock.errors import NotFoundError, PenstockError
from penstock.metadata.states import ExecutionState

MANUAL_BLESSING_TYPE = "penstock.ManualBlessing"
NODE_ID = "ManualBlessing"


@click.command()
@metadata_option
@click.argument("artifact_id", type=int)
@click.option("--force", is_flag=True, help="Required: confirms that this overrides the Evaluator's verdict.")
@click.option("--reason", required=True, help="Why the model may ship anyway (recorded in ML Metadata).")
def bless(metadata: str | None, artifact_id: int, force: bool, reason: str) -> None:
    """Bless the model ARTIFACT_ID (a Model, or the ModelBlessing of one) by hand."""
    if not force:
        raise click.UsageError("blessing by hand overrides the Evaluator's verdict; confirm with --force")
    if not reason.strip():
        raise click.UsageError("--reason must say why the model may ship")
    store = open_store(metadata)
    blessing = force_bless(store, artifact_id, reason.strip())
    click.echo(
        f"model {blessing.get_property('model_id')} blessed by {blessing.custom_properties['forced_by']}: "
        f"ModelBlessing {blessing.id} ({blessing.uri})"
    )


def force_bless(store: Any, artifact_id: int, reason: str, user: str | None = None) -> Any:
    """Record a ManualBlessing execution and its new ModelBlessing; return the blessing."""
    from penstock.dsl.artifact import ArtifactState
    from penstock.dsl.standard_artifacts import Model, ModelBlessing

    artifact = store.get_artifact(artifact_id)
    overridden = None
    if isinstance(artifact, ModelBlessing):
        overridden = artifact
        model_id = artifact.get_property("model_id")
        if model_id is None:
            raise PenstockError(f"ModelBlessing {artifact_id} names no model (no model_id property)")
        model = store.get_artifact(int(model_id))
    elif isinstance(artifact, Model):
        model = artifact
    else:
        raise PenstockError(f"artifact {artifact_id} is a {artifact.TYPE_NAME}, not a Model or a ModelBlessing")
    if model.state is not ArtifactState.LIVE:
        raise PenstockError(f"model {model.id} is {model.state.value}, not LIVE: it cannot be blessed")

    pipeline_name, run_id = _producer_run(store, model.id)
    user = user or getpass.getuser()
    now_ms = int(time.time() * 1000)
    forced_at = datetime.datetime.fromtimestamp(now_ms / 1000, tz=datetime.UTC).isoformat(timespec="seconds")
    explanation = f"blessed by hand by {user} at {forced_at}: {reason}"
    if overridden is not None:
        previous = overridden.custom_properties.get("explanation", "")
        explanation += f"\noverrides ModelBlessing {overridden.id}: {previous}".rstrip(": ")

    blessing = ModelBlessing(
        _blessing_uri(model.uri, now_ms),
        properties={"blessed": 1, "model_id": int(model.id or 0)},
        custom_properties={
            "forced_by": user,
            "forced_at": forced_at,
            "forced_reason": reason,
            "explanation": explanation,
            **({"overrides_blessing_id": int(overridden.id or 0)} if overridden is not None else {}),
        },
        state=ArtifactState.LIVE,
    )
    _write_files(blessing, model, overridden)
    inputs = {"model": [model]}
    if overridden is not None:
        inputs["overridden_blessing"] = [overridden]
    store.record_execution(
        pipeline_name=pipeline_name,
        run_id=run_id,
        node_id=NODE_ID,
        type_name=MANUAL_BLESSING_TYPE,
        state=ExecutionState.COMPLETE,
        inputs=inputs,
        outputs={"blessing": blessing},
        properties={"forced_by": user, "forced_at": forced_at, "reason": reason, "start_ms": now_ms, "end_ms": now_ms},
    )
    return blessing


def _producer_run(store: Any, model_id: int) -> tuple[str, str]:
    """(pipeline name, run id) of the execution that produced the model: the blessing joins that
    pipeline, where the resolver looks for blessings."""
    for kind, execution_id in store.artifact_events(model_id):
        if kind == "OUTPUT":
            record = store.get_execution(execution_id)
            pipeline_name = record.properties.get("pipeline_name")
            if pipeline_name and record.run_id:
                return str(pipeline_name), record.run_id
    raise NotFoundError(f"model {model_id} has no producing execution in ML Metadata; cannot tell its pipeline")


def _blessing_uri(model_uri: str, now_ms: int) -> str:
    """Next to the pipeline's other outputs (``<pipeline_root>/ManualBlessing/blessing/...``) when
    the model sits in penstock's layout ``<pipeline_root>/<component>/<output>/<execution>``."""
    name = f"{now_ms}-{secrets.token_hex(3)}"
    pipeline_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(model_uri))))
    if os.path.isdir(pipeline_root) and os.access(pipeline_root, os.W_OK):
        return os.path.join(pipeline_root, NODE_ID, "blessing", name)
    return os.path.join(settings.home(), "manual_blessings", name)


def _write_files(blessing: Any, model: Any, overridden: Any) -> None:
    os.makedirs(blessing.uri, exist_ok=True)
    with open(os.path.join(blessing.uri, "blessing.json"), "w", encoding="utf-8") as f:
        json.dump({
            "blessed": True,
            "model_id": model.id,
            "model_uri": model.uri,
            "forced_by": blessing.custom_properties["forced_by"],
            "forced_at": blessing.custom_properties["forced_at"],
            "forced_reason": blessing.custom_properties["forced_reason"],
            "overrides_blessing_id": overridden.id if overridden is not None else None,
            "explanation": blessing.custom_properties["explanation"],
        }, f, indent=2, sort_keys=True)
    with open(os.path.join(blessing.uri, "explanation.txt"), "w", encoding="utf-8") as f:
        f.write(blessing.custom_properties["explanation"] + "\n")
    open(os.path.join(blessing.uri, "BLESSED"), "w").close()
