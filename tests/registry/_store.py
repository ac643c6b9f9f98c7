"""A registry test store built from real runs of the penguin example (no hand-written MLMD rows).

1. ``penguin`` trained from scratch (100 steps): blessed by the Evaluator, pushed as version 1;
2. warm-started from version 1's model with more steps: blessed, pushed as version 2 (base model,
   changed training parameters);
3. one training step: the Evaluator refuses it against version 2, nothing is pushed; then ``penstock bless --force``
   blesses it by hand and a push-only run of the same pipeline pushes the latest blessed model as
   ``penguin`` version 3 and as a second model, ``penguin-edge`` version 1;
4. ``penstock rollback penguin --to 1``.
"""

from __future__ import annotations

import dataclasses
import os

from penstock import Channel, LatestBlessedModel, Pipeline, Pusher, Resolver
from penstock.artifacts import Model, ModelBlessing
from penstock.metadata import connection
from penstock.metadata.store import MetadataStore
from penstock.orchestrators.local.runner import LocalRunner

BLESSED_BY = "registry-tester"
MANUAL_REASON = "known-bad eval slice; ship for the demo"
ROLLBACK_REASON = "version 3 answers badly for Chinstrap"


@dataclasses.dataclass
class RegistryStore:
    home: str
    metadata: str
    serving_dir: str
    store: MetadataStore
    run_ids: list[str]
    model_ids: list[int]  # the three trained models, in order
    manual_blessing_id: int


def _penguin(home: str, **overrides: object) -> Pipeline:
    from examples.penguin.pipeline import create_pipeline

    return create_pipeline(pipeline_root=os.path.join(home, "root"), metadata=os.path.join(home, "metadata.sqlite"),
                           serving_dir=os.path.join(home, "serving"), **overrides)  # type: ignore[arg-type]


def _push_latest_blessed(home: str) -> Pipeline:
    """A run of pipeline ``penguin`` that only pushes the latest blessed model (a hand-blessed one)."""
    latest = Resolver(LatestBlessedModel(), model=Channel(Model), model_blessing=Channel(ModelBlessing),
                      id="latest_blessed_model")
    pushers = [Pusher(model=latest.outputs["model"], model_blessing=latest.outputs["model_blessing"],
                      push_destination=os.path.join(home, "serving"), model_name=name, id=f"Pusher_{index}")
               for index, name in enumerate(("penguin", "penguin-edge"))]
    return Pipeline("penguin", [latest, *pushers], pipeline_root=os.path.join(home, "root"),
                    metadata=os.path.join(home, "metadata.sqlite"))


def build(home: str) -> RegistryStore:
    from penstock.cli.bless import force_bless
    from penstock.dsl.standard_artifacts import Model as ModelType
    from penstock.registry.rollback import rollback

    runner = LocalRunner()
    run_ids = []
    # The Evaluator compares with the baseline only where the test needs it (it takes ~20 s
    # longer): one training step may by chance reach 0.6 accuracy, but never the blessed model's.
    for overrides in ({"compare_with_baseline": False},
                      {"compare_with_baseline": False, "warm_start": True, "train_steps": 150},
                      {"train_steps": 1}):
        result = runner.run(_penguin(home, **overrides))
        assert result.succeeded, result.errors
        run_ids.append(result.run_id)
    metadata = os.path.join(home, "metadata.sqlite")
    store = MetadataStore(connection.parse(metadata))
    model_ids = sorted(m.id for m in store.live_artifacts_of_type("penguin", ModelType) if m.id is not None)
    assert len(model_ids) == 3, model_ids
    blessing = force_bless(store, model_ids[2], MANUAL_REASON, user=BLESSED_BY)
    result = runner.run(_push_latest_blessed(home))
    assert result.succeeded, result.errors
    run_ids.append(result.run_id)
    rollback(store, "penguin", 1, ROLLBACK_REASON, user=BLESSED_BY)
    return RegistryStore(home, metadata, os.path.join(home, "serving"), store, run_ids, model_ids, int(blessing.id or 0))
