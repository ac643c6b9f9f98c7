"""penstock's side of bench/vs_tfx_scale.py: TFX's native-Keras taxi pipeline, component for component.

Same data folder, same module file (TFX's ``taxi_utils_native_keras.py`` with its ``FnArgs``
import pointed at penstock: see ``port_tfx_module``), same steps, Beam mode and EvalConfig as
bench/tfx/taxi_tfx.py (both read bench/taxi_scale/settings.py). Two deliberate differences, both
what penstock users get by default: the ExampleValidator warns instead of stopping the run
(TFX's never stops it), and an InfraValidator runs before the Pusher (TFX's needs Docker or a
``tensorflow_model_server`` binary, neither of which exists here), in parallel with the Evaluator.
"""

from __future__ import annotations

import os
import sys

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import settings


def port_tfx_module(tfx_module_path: str, destination: str) -> str:
    """Write TFX's module file to ``destination`` with the one import penstock changes; refuse
    if that import is not there verbatim (a new tfx wheel: the benchmark must be looked at)."""
    with open(tfx_module_path) as f:
        source = f.read()
    if settings.TFX_IMPORTS not in source:
        raise SystemExit(f"error: {tfx_module_path} does not import FnArgs as expected; update bench/taxi_scale/settings.py")
    with open(destination, "w") as f:
        f.write(source.replace(settings.TFX_IMPORTS, settings.PENSTOCK_IMPORTS))
    return destination


def create_pipeline(data_root: str, module_file: str, pipeline_root: str | None = None,
                    metadata: str | None = None, serving_dir: str | None = None,
                    train_steps: int = settings.TRAIN_STEPS, eval_steps: int = settings.EVAL_STEPS,
                    infra_validator: bool = True, skew_check: bool = False) -> Pipeline:
    example_gen = CsvExampleGen(input_base=data_root)
    statistics = StatisticsGen(examples=example_gen.outputs["examples"])
    schema = SchemaGen(statistics=statistics.outputs["statistics"], infer_feature_shape=True)
    validator = ExampleValidator(statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"],
                                 gate="warn")
    transform = Transform(examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
                          module_file=module_file)
    trainer = Trainer(
        module_file=module_file,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema.outputs["schema"],
        train_args={"num_steps": train_steps},
        eval_args={"num_steps": eval_steps},
        # Off by default: TFX has no such check, so the Trainers do the same work.
        skew_check=skew_check,
    )
    baseline = Resolver(LatestBlessedModel(), model=Channel(Model), model_blessing=Channel(ModelBlessing),
                        id="latest_blessed_model_resolver")
    evaluator = Evaluator(examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
                          baseline_model=baseline.outputs["model"], eval_config=settings.EVAL_CONFIG)
    nodes = [example_gen, statistics, schema, validator, transform, trainer, baseline, evaluator]
    infra = None
    if infra_validator:
        infra = InfraValidator(model=trainer.outputs["model"], examples=example_gen.outputs["examples"])
        nodes.append(infra)
    pusher = Pusher(model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                    infra_blessing=infra.outputs["blessing"] if infra else None,
                    push_destination=serving_dir, model_name="taxi")
    return Pipeline("taxi_scale", [*nodes, pusher], pipeline_root=pipeline_root, metadata=metadata,
                    beam_pipeline_args=list(settings.BEAM_ARGS))
