"""TFX 1.16's Chicago taxi pipeline (native Keras), the peer of bench/vs_tfx_scale.py (runs in bench/.venv-tfx).

Mirrors ``tfx/examples/chicago_taxi_pipeline/taxi_pipeline_native_keras.py`` with TFX's public
API and the module file shipped in the tfx wheel (``taxi_utils_native_keras.py``): CsvExampleGen
-> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> Trainer -> latest-blessed-model
Resolver -> Evaluator -> Pusher, LocalDagRunner, SQLite MLMD. Steps, Beam mode and the
EvalConfig come from bench/taxi_scale/settings.py, which penstock's side reads too (the example's
EvalConfig plus two slicing specs). The Pusher runs whatever the blessing says, as in the example.

After the run it writes per-component times read back from its own MLMD store as JSON to
``--times-json`` (same format as bench/tfx/penguin_tfx.py).

    bench/.venv-tfx/bin/python bench/tfx/taxi_tfx.py --data-root DIR --work-dir DIR [--times-json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "taxi_scale"))

import settings  # noqa: E402  (bench/taxi_scale/settings.py: plain values shared with penstock's side)
from penguin_tfx import component_times  # noqa: E402

PIPELINE_NAME = "taxi_tfx"


def module_file() -> str:
    import importlib.util

    spec = importlib.util.find_spec("tfx")
    assert spec is not None and spec.submodule_search_locations
    path = os.path.join(os.path.dirname(next(iter(spec.submodule_search_locations))), settings.TFX_MODULE)
    if not os.path.exists(path):
        sys.exit(f"error: {path} not found: the tfx wheel no longer ships the taxi example module")
    return path


def create_pipeline(data_root: str, pipeline_root: str, metadata_path: str, serving_dir: str,
                    train_steps: int, eval_steps: int, beam_args: list[str]):
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    from tfx import v1 as tfx

    mod = module_file()
    example_gen = tfx.components.CsvExampleGen(input_base=data_root)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"],
                                          infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                                        schema=schema_gen.outputs["schema"])
    transform = tfx.components.Transform(examples=example_gen.outputs["examples"],
                                         schema=schema_gen.outputs["schema"], module_file=mod)
    trainer = tfx.components.Trainer(
        module_file=mod,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=eval_steps),
    )
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        eval_config=json_format.ParseDict(settings.EVAL_CONFIG, tfma.EvalConfig()))
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_dir)))
    return tfx.dsl.Pipeline(
        pipeline_name=PIPELINE_NAME,
        pipeline_root=pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, example_validator, transform, trainer,
                    model_resolver, evaluator, pusher],
        enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path),
        beam_pipeline_args=beam_args,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", required=True, help="directory holding the CSV (and nothing else)")
    parser.add_argument("--work-dir", required=True, help="pipeline root, metadata and serving dir live here")
    parser.add_argument("--train-steps", type=int, default=settings.TRAIN_STEPS)
    parser.add_argument("--eval-steps", type=int, default=settings.EVAL_STEPS)
    parser.add_argument("--times-json", help="write per-component times from MLMD here")
    args = parser.parse_args()

    t_start = time.time()
    from absl import logging as absl_logging
    from tfx import v1 as tfx

    absl_logging.set_verbosity(absl_logging.INFO)
    t_imported = time.time()
    metadata_path = os.path.join(args.work_dir, "metadata", "metadata.db")
    os.makedirs(os.path.dirname(metadata_path), exist_ok=True)
    pipeline = create_pipeline(
        data_root=args.data_root, pipeline_root=os.path.join(args.work_dir, "pipeline_root"),
        metadata_path=metadata_path, serving_dir=os.path.join(args.work_dir, "serving_model"),
        train_steps=args.train_steps, eval_steps=args.eval_steps, beam_args=settings.BEAM_ARGS,
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    t_done = time.time()
    if args.times_json:
        result = component_times(metadata_path, PIPELINE_NAME)
        result.update(import_seconds=t_imported - t_start, pipeline_seconds=t_done - t_imported,
                      beam_pipeline_args=settings.BEAM_ARGS)
        with open(args.times_json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
