"""ExampleValidator: anomalies per split against a schema, optional drift, and a validation gate."""

from __future__ import annotations

from typing import Literal

from penstock.dsl.component import Component, ComponentSpec, InputSpec, OutputSpec, Parameter
from penstock.dsl.standard_artifacts import ExampleAnomalies, ExampleStatistics, Schema


class ExampleValidator(Component):
    """Checks each split's statistics against the schema (TFDV) and writes
    ``<uri>/Split-<name>/SchemaDiff.pb`` plus a readable ``summary.txt``.

    Drift: ``drift_thresholds={"feature": {"linf": 0.1}}`` (L-infinity, categorical features) or
    ``{"jsd": 0.1}`` (Jensen-Shannon divergence, numeric features) compares every split with
    ``drift_baseline_split`` or, when ``baseline_statistics`` (e.g. the previous span's) is
    given, each split with the same split of the baseline.

    The gate: with ``gate="stop"`` (default) anomalies in ``gate_splits`` stop the pipeline
    with a ValidationGateError listing them, after the anomalies artifact is written. Accept
    an anomaly by updating the schema or listing it in ``expected_anomalies``
    (``{"feature": ["KIND", ...]}``, ``["*"]`` for any kind); ``gate="warn"`` only logs them;
    ``gate="record"`` (TFX's behaviour, the default of ``penstock.tfx``'s ExampleValidator)
    records them and says once how to turn the gate on."""

    SPEC = ComponentSpec(
        inputs={
            "statistics": InputSpec(ExampleStatistics),
            "schema": InputSpec(Schema),
            "baseline_statistics": InputSpec(ExampleStatistics, optional=True),
        },
        outputs={"anomalies": OutputSpec(ExampleAnomalies)},
        parameters={
            "exclude_splits": Parameter(list[str], default=[]),
            "gate": Parameter(Literal["stop", "warn", "record"], default="stop"),
            "gate_splits": Parameter(list[str], default=["train", "eval"]),
            "expected_anomalies": Parameter(dict[str, list[str]], default={}),
            "drift_thresholds": Parameter(dict[str, dict[str, float]], default={}),
            "drift_baseline_split": Parameter(str, default="train"),
        },
    )
    EXECUTOR = "penstock.components.example_validator.executor:run"
    FILE_ACCESS = ("penstock",)
    HEAVY_MODULES = ("tensorflow_data_validation",)
    VERSION = "1"
