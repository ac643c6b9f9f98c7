"""The penguin pipeline, end to end: CSV in, a blessed model in TF Serving's layout out.

    penstock run examples/penguin/pipeline.py

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> Trainer ->
Evaluator (baseline: the latest blessed model) -> InfraValidator -> Pusher. A model is pushed to
``$PENSTOCK_HOME/serving/penguin/<version>/`` only if it reaches 60% accuracy overall and on every
species, is no worse than the last blessed model, and serves exactly like itself.

``PENGUIN_TRAIN_STEPS`` overrides the training steps (e.g. 1, to watch a worse model be refused);
``PENGUIN_WARM_START=1`` starts training from the latest blessed model (``warm_start=True``).
``create_pipeline(data_root=...)`` reads ``penguins.csv`` from another folder, e.g. in a bucket
(``gs://...``, ``s3://...``), as a Kubeflow run's pods need.
The defaults match TFX's penguin example (Dense(8) x 2, 100 train steps, 5 eval steps) so that
``bench/vs_tfx.py`` compares like with like.
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
MODULE_FILE = os.path.join(HERE, "penguin_utils.py")

EVAL_CONFIG = {
    "model_specs": [{"label_key": "species", "signature_name": "serving_default"}],
    # Overall and per species: a model good on average but bad for one species is refused.
    "slicing_specs": [{}, {"feature_keys": ["species"]}],
    "metrics_specs": [{
        "metrics": [
            {"class_name": "ExampleCount"},
            {
                "class_name": "SparseCategoricalAccuracy",
                "threshold": {
                    "value_threshold": {"lower_bound": 0.6},
                    # no worse than the latest blessed model (skipped while there is none)
                    "change_threshold": {"direction": "HIGHER_IS_BETTER", "absolute": -1e-10},
                },
            },
        ]
    }],
}


def create_pipeline(
    name: str = "penguin",
    train_steps: int | None = None,
    eval_steps: int = 5,
    hidden_units: int = 8,
    beam_pipeline_args: list[str] | None = None,
    pipeline_root: str | None = None,
    metadata: str | None = None,
    serving_dir: str | None = None,
    data_root: str | None = None,
    warm_start: bool = False,
    compare_with_baseline: bool = True,
) -> Pipeline:
    """``warm_start``: the Trainer begins from the latest blessed model's weights (its
    ``base_model`` input, wired to the same resolver the Evaluator takes its baseline from).
    ``compare_with_baseline=False``: the Evaluator checks the value thresholds only (no baseline
    model, so the change threshold is skipped), as on the very first run."""
    steps = train_steps if train_steps is not None else int(os.environ.get("PENGUIN_TRAIN_STEPS", "100"))
    example_gen = CsvExampleGen(input_base=data_root or os.path.join(HERE, "data"), input_pattern="penguins.csv")
    statistics = StatisticsGen(examples=example_gen.outputs["examples"])
    # Once a model is blessed, new data must fit the schema of its run: a change stops the run
    # here. To change the schema on purpose, name the features: accept_changes=["feature", ...].
    schema = SchemaGen(statistics=statistics.outputs["statistics"], accept_changes=[])
    validator = ExampleValidator(statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"])
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
        eval_args={"num_steps": eval_steps},
        hyperparameters={"hidden_units": hidden_units},
        **({"base_model": baseline.outputs["model"]} if warm_start else {}),
    )
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        **({"baseline_model": baseline.outputs["model"]} if compare_with_baseline else {}),
        schema=schema.outputs["schema"],
        eval_config=EVAL_CONFIG,
    )
    infra_validator = InfraValidator(model=trainer.outputs["model"], examples=example_gen.outputs["examples"])
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"],
        push_destination=serving_dir,  # None: $PENSTOCK_HOME/serving
        model_name=name,
    )
    # Data problems stop the run before training (ExampleValidator's gate).
    transform.add_upstream(validator)
    return Pipeline(
        name,
        [example_gen, statistics, schema, validator, transform, trainer, baseline, evaluator, infra_validator, pusher],
        pipeline_root=pipeline_root,
        metadata=metadata,
        beam_pipeline_args=beam_pipeline_args,
    )


pipeline = create_pipeline(warm_start=os.environ.get("PENGUIN_WARM_START") == "1")
