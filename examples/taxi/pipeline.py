"""The Chicago taxi pipeline, end to end: will a ride's tip exceed 20% of the fare?

    penstock run examples/taxi/pipeline.py

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> Trainer ->
Evaluator (baseline: the latest blessed model) -> InfraValidator -> Pusher. The label
(``big_tipper``) is computed by the tf.Transform graph, so the Evaluator gets it from the model's
``transform_features`` signature. Accuracy and AUC are checked overall and per payment type, and
a new model must not lose AUC against the latest blessed one.

``TAXI_TRAIN_STEPS`` overrides the training steps.
``create_pipeline(data_root=...)`` reads ``taxi.csv`` from another folder, e.g. in a bucket.

Incremental retraining on new spans, warm-started from the last blessed model::

    python examples/taxi/make_spans.py /tmp/taxi-spans          # span-1 (older rides), span-2 (newer)
    TAXI_SPANS_DIR=/tmp/taxi-spans TAXI_SPAN=1 penstock run examples/taxi/pipeline.py   # from scratch
    TAXI_SPANS_DIR=/tmp/taxi-spans penstock run examples/taxi/pipeline.py   # newest span, from span 1's model

With ``TAXI_SPANS_DIR`` (``create_pipeline(data_root=..., input_pattern="span-{SPAN}/taxi.csv",
warm_start=True)``) ExampleGen reads the newest span (or ``TAXI_SPAN``), and the Trainer's
``base_model`` is the latest blessed model: ``run_fn`` loads its weights before training
(``penstock.load_base_weights``), so a new span needs fewer steps to reach the blessing thresholds
(``bench/warm_start.py``). ``penstock models taxi`` shows each version's span and base model.
"""

from __future__ import annotations

import os

from penstock import (
    Channel,
    CsvExampleGen,
    Evaluator,
    ExampleValidator,
    InfraValidator,
    LatestBlessedModel,
    Pipeline,
    Pusher,
    Resolver,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
)
from penstock.artifacts import Model, ModelBlessing

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE_FILE = os.path.join(HERE, "taxi_utils.py")
FLOAT_COLUMNS = ["trip_miles", "fare", "trip_seconds", "pickup_latitude", "pickup_longitude",
                 "dropoff_latitude", "dropoff_longitude", "tips"]

EVAL_CONFIG = {
    "model_specs": [{
        "label_key": "big_tipper",
        "signature_name": "serving_default",
        "preprocessing_function_names": ["transform_features"],
    }],
    "slicing_specs": [{}, {"feature_keys": ["payment_type"]}, {"feature_keys": ["trip_start_hour"]}],
    "metrics_specs": [{
        "metrics": [
            {"class_name": "ExampleCount"},
            {"class_name": "BinaryAccuracy", "threshold": {"value_threshold": {"lower_bound": 0.6}}},
            {
                "class_name": "AUC",
                "per_slice_thresholds": [{
                    "slicing_specs": [{}],
                    "threshold": {
                        "value_threshold": {"lower_bound": 0.6},
                        "change_threshold": {"direction": "HIGHER_IS_BETTER", "absolute": -0.01},
                    },
                }],
            },
            {"class_name": "Precision"},
            {"class_name": "Recall"},
            {"class_name": "CalibrationPlot"},
        ]
    }],
}


def create_pipeline(
    name: str = "taxi",
    train_steps: int | None = None,
    pipeline_root: str | None = None,
    metadata: str | None = None,
    serving_dir: str | None = None,
    data_root: str | None = None,
    input_pattern: str = "taxi.csv",
    span: int | None = None,
    warm_start: bool = False,
    fixed_widths: bool | None = None,
    accept_changes: list[str] | None = None,
) -> Pipeline:
    """``warm_start``: the Trainer begins from the latest blessed model (its ``base_model``).
    ``fixed_widths`` (default: ``warm_start``): one-hot widths that do not depend on the span's
    vocabularies, so every span's model has the same shapes."""
    fixed = warm_start if fixed_widths is None else fixed_widths
    steps = train_steps if train_steps is not None else int(os.environ.get("TAXI_TRAIN_STEPS", "1000"))
    example_gen = CsvExampleGen(
        input_base=data_root or os.path.join(HERE, "data"),
        input_pattern=input_pattern,
        span=span,
        # trip_seconds holds only whole numbers in this sample, so it would be read as int;
        # the model (taxi_utils.py) treats every measurement as float.
        column_types={name: "float" for name in FLOAT_COLUMNS},
    )
    statistics = StatisticsGen(examples=example_gen.outputs["examples"])
    # Once a model is blessed, new data must fit the schema of its run: a change stops the run
    # here. To change the schema on purpose, name the features: accept_changes=["feature", ...].
    schema = SchemaGen(statistics=statistics.outputs["statistics"], accept_changes=list(accept_changes or []))
    validator = ExampleValidator(
        statistics=statistics.outputs["statistics"],
        schema=schema.outputs["schema"],
        # Known quirks of this sample: rare companies appear only in the eval split, and
        # pickup_census_tract is empty in every row. Anything else stops the run before training.
        expected_anomalies={
            "company": ["ENUM_TYPE_UNEXPECTED_STRING_VALUES"],
            "pickup_census_tract": ["FEATURE_TYPE_NOT_PRESENT"],
        },
    )
    transform = Transform(
        examples=example_gen.outputs["examples"], schema=schema.outputs["schema"], module_file=MODULE_FILE
    )
    baseline = Resolver(
        LatestBlessedModel(), model=Channel(Model), model_blessing=Channel(ModelBlessing),
        id="latest_blessed_model",
    )
    trainer = Trainer(
        module_file=MODULE_FILE,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema.outputs["schema"],
        train_args={"num_steps": steps},
        eval_args={"num_steps": 20},
        # warm start: begin from the latest blessed model (none yet: from scratch), with one-hot
        # widths that do not depend on the span's vocabularies (taxi_utils.build_keras_model)
        custom_config={"fixed_widths": True} if fixed else {},
        **({"base_model": baseline.outputs["model"]} if warm_start else {}),
    )
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        schema=schema.outputs["schema"],
        eval_config=EVAL_CONFIG,
    )
    infra_validator = InfraValidator(model=trainer.outputs["model"], examples=example_gen.outputs["examples"])
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"],
        push_destination=serving_dir,
        model_name=name,
    )
    transform.add_upstream(validator)
    return Pipeline(
        name,
        [example_gen, statistics, schema, validator, transform, trainer, baseline, evaluator, infra_validator, pusher],
        pipeline_root=pipeline_root,
        metadata=metadata,
    )


# What a new span of this sample changes on purpose: companies and payment types come and go, and
# pickup_census_tract is empty in every row (see expected_anomalies). Anything else stops the run.
SPAN_CHANGES = ["company", "payment_type", "pickup_census_tract"]


def _from_environment() -> Pipeline:
    spans_dir = os.environ.get("TAXI_SPANS_DIR")
    if not spans_dir:
        return create_pipeline()
    span = os.environ.get("TAXI_SPAN")
    return create_pipeline(data_root=spans_dir, input_pattern="span-{SPAN}/taxi.csv",
                           span=int(span) if span else None, warm_start=True, accept_changes=SPAN_CHANGES)


pipeline = _from_environment()
