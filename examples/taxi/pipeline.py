"""The Chicago taxi pipeline, end to end: will a ride's tip exceed 20% of the fare?

    penstock run examples/taxi/pipeline.py

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> Trainer ->
Evaluator (baseline: the latest blessed model) -> InfraValidator -> Pusher. The label
(``big_tipper``) is computed by the tf.Transform graph, so the Evaluator gets it from the model's
``transform_features`` signature. Accuracy and AUC are checked overall and per payment type, and
a new model must not lose AUC against the latest blessed one.

``TAXI_TRAIN_STEPS`` overrides the training steps.
``create_pipeline(data_root=...)`` reads ``taxi.csv`` from another folder, e.g. in a bucket.
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
) -> Pipeline:
    steps = train_steps if train_steps is not None else int(os.environ.get("TAXI_TRAIN_STEPS", "1000"))
    example_gen = CsvExampleGen(
        input_base=data_root or os.path.join(HERE, "data"),
        input_pattern="taxi.csv",
        # trip_seconds holds only whole numbers in this sample, so it would be read as int;
        # the model (taxi_utils.py) treats every measurement as float.
        column_types={name: "float" for name in FLOAT_COLUMNS},
    )
    statistics = StatisticsGen(examples=example_gen.outputs["examples"])
    # Once a model is blessed, new data must fit the schema of its run: a change stops the run
    # here. To change the schema on purpose, name the features: accept_changes=["feature", ...].
    schema = SchemaGen(statistics=statistics.outputs["statistics"], accept_changes=[])
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
    trainer = Trainer(
        module_file=MODULE_FILE,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema.outputs["schema"],
        train_args={"num_steps": steps},
        eval_args={"num_steps": 20},
    )
    baseline = Resolver(
        LatestBlessedModel(), model=Channel(Model), model_blessing=Channel(ModelBlessing),
        id="latest_blessed_model",
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


pipeline = create_pipeline()
