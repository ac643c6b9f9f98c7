"""The model registry, read from ML Metadata: no second database.

Every fact it shows was already recorded by a run: the Pusher's ``PushedModel`` artifacts (model
name, version, destination), the executions that pushed, trained, evaluated and blessed each
model, their cache keys (user code fingerprints, input data fingerprints), and the ``penstock
bless`` and ``penstock rollback`` executions. ``catalog`` gathers them per model version,
``serving_state`` says what a serving directory or a running server serves, ``rollback`` pins an
earlier version in ``models.config`` and records who, when and why, and ``diff`` compares two
versions. Nothing here imports TensorFlow.
"""

from penstock.registry.catalog import Catalog, ModelVersion
from penstock.registry.diff import diff_versions
from penstock.registry.rollback import RollbackResult, rollback

__all__ = ["Catalog", "ModelVersion", "RollbackResult", "diff_versions", "rollback"]
