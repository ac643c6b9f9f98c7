"""TFX 1.16's penguin pipeline, the peer penstock is benchmarked against (runs in bench/.venv-tfx).

Why it exists: bench/vs_tfx.py needs the same pipeline penstock's examples/penguin runs, built
only from TFX's public API (``tfx.v1``) and the Keras module file shipped inside the tfx wheel
(``tfx/examples/penguin/penguin_utils_keras.py``), so the comparison measures TFX as users get it.
The pipeline mirrors ``tfx/examples/penguin/penguin_pipeline_local.py`` (Keras): CsvExampleGen ->
StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> Trainer (100 train / 5 eval
steps) -> latest-blessed-model Resolver -> Evaluator (SparseCategoricalAccuracy >= 0.6 plus a
change threshold) -> Pusher (guarded by the blessing), LocalDagRunner, SQLite MLMD, in-memory Beam.
Two deviations from the shipped example, both so the peer runs the benchmark's pipeline: the
ExampleValidator is always included (the example adds it only with a user schema), and the
Tuner / BulkInferrer / transform-cache resolver showcases are left out.

After the run it writes per-component times read back from its own MLMD store (execution create
and last-update times of the latest pipeline run) as JSON to ``--times-json``.

    bench/.venv-tfx/bin/python bench/tfx/penguin_tfx.py --data-root DIR --work-dir DIR \
        [--train-steps 100] [--eval-steps 5] [--times-json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

PIPELINE_NAME = "penguin_tfx"


def module_file() -> str:
    """The Keras user module shipped inside the installed tfx wheel, referenced by path."""
    import importlib.util

    spec = importlib.util.find_spec("tfx.examples.penguin")
    assert spec is not None and spec.submodule_search_locations
    path = os.path.join(next(iter(spec.submodule_search_locations)), "penguin_utils_keras.py")
    if not os.path.exists(path):
        sys.exit(f"error: {path} not found: the tfx wheel no longer ships the penguin example module")
    return path


def create_pipeline(data_root: str, pipeline_root: str, metadata_path: str, serving_dir: str,
                    train_steps: int, eval_steps: int, beam_args: list[str]):
    import tensorflow_model_analysis as tfma
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
    # Same EvalConfig as tfx/examples/penguin/penguin_pipeline_local.py (accuracy_threshold=0.6).
    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="species_xf",
                                    preprocessing_function_names=["transform_features"])],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=[tfma.MetricConfig(
            class_name="SparseCategoricalAccuracy",
            threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={"value": 0.6}),
                change_threshold=tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -1e-10})),
        )])],
    )
    evaluator = tfx.components.Evaluator(examples=example_gen.outputs["examples"],
                                         model=trainer.outputs["model"],
                                         baseline_model=model_resolver.outputs["model"],
                                         eval_config=eval_config)
    with tfx.dsl.Cond(evaluator.outputs["blessing"].future()[0].custom_property("blessed") == 1):
        pusher = tfx.components.Pusher(
            model=trainer.outputs["model"],
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


def component_times(metadata_path: str, pipeline_name: str = PIPELINE_NAME) -> dict:
    """Per-node execution times and states of the latest pipeline run, read from TFX's MLMD."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    runs = store.get_contexts_by_type("pipeline_run")
    latest = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    node_names = {c.id: c.name for c in store.get_contexts_by_type("node")}
    state_names = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
    nodes: dict[str, dict] = {}
    for execution in store.get_executions_by_context(latest.id):
        node = next((node_names[c.id] for c in store.get_contexts_by_execution(execution.id)
                     if c.id in node_names), str(execution.type))
        node = node.split(".", 1)[1] if node.startswith(pipeline_name + ".") else node
        nodes[node] = {
            "seconds": (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000,
            "state": state_names.get(execution.last_known_state, str(execution.last_known_state)),
            "start_ms": execution.create_time_since_epoch,
            "end_ms": execution.last_update_time_since_epoch,
        }
    return {"run_id": latest.name, "components": nodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", required=True, help="directory holding penguins.csv (and nothing else)")
    parser.add_argument("--work-dir", required=True, help="pipeline root, metadata and serving dir live here")
    parser.add_argument("--train-steps", type=int, default=100)
    parser.add_argument("--eval-steps", type=int, default=5)
    parser.add_argument("--beam-arg", action="append", default=None,
                        help="Beam pipeline arg (repeatable); default in-memory DirectRunner, 1 worker")
    parser.add_argument("--times-json", help="write per-component times from MLMD here")
    args = parser.parse_args()
    beam_args = args.beam_arg or ["--direct_running_mode=in_memory", "--direct_num_workers=1"]

    t_start = time.time()
    from absl import logging as absl_logging
    from tfx import v1 as tfx

    absl_logging.set_verbosity(absl_logging.INFO)
    t_imported = time.time()
    metadata_path = os.path.join(args.work_dir, "metadata", "metadata.db")
    os.makedirs(os.path.dirname(metadata_path), exist_ok=True)
    pipeline = create_pipeline(
        data_root=args.data_root,
        pipeline_root=os.path.join(args.work_dir, "pipeline_root"),
        metadata_path=metadata_path,
        serving_dir=os.path.join(args.work_dir, "serving_model"),
        train_steps=args.train_steps,
        eval_steps=args.eval_steps,
        beam_args=beam_args,
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    t_done = time.time()
    if args.times_json:
        result = component_times(metadata_path)
        result["import_seconds"] = t_imported - t_start
        result["pipeline_seconds"] = t_done - t_imported
        result["beam_pipeline_args"] = beam_args
        with open(args.times_json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
