"""The Tuner and BulkInferrer benchmark pipelines, one file for both systems (bench/vs_tfx.py).

The same pipeline code runs on TFX 1.16 (``--api tfx``, in bench/.venv-tfx) and on penstock
(``--api penstock``): the only difference is the import of the ``tfx`` namespace, which is
penstock's claim. Per-component times are read back from each system's own ML Metadata store.

- ``tuner``: CsvExampleGen -> StatisticsGen -> SchemaGen -> Transform -> Tuner on the penguin
  data, with bench/tfx/tuner_module.py (KerasTuner RandomSearch over 2 x 3 values, 6 trials,
  20 train / 5 eval steps per trial). TFX runs its trials one after the other; penstock in
  parallel processes (one per core).
- ``bulk_inferrer``: CsvExampleGen over ``--data-root`` (vs_tfx.py generates 1M taxi-shaped
  rows) and an Importer of a trained taxi SavedModel (``--model-dir``) -> BulkInferrer
  (PredictionLogs, TFX's output format).

    python bench/tfx/scenarios.py --api tfx|penstock --scenario tuner|bulk_inferrer \
        --data-root DIR --work-dir DIR [--model-dir DIR] --times-json FILE
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
PIPELINE_NAME = "bench_scenario"
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def keras_tuner_on_keras_2() -> None:
    """KerasTuner 1.4 picks Keras 3 whenever it is installed and then rejects tf_keras models
    (keras-team/keras-tuner#1039), so TFX 1.16's Tuner fails on TF 2.16 as installed. For TFX to
    run at all, import keras_tuner with ``keras`` naming tf_keras (what penstock does itself)."""
    import tf_keras

    saved = sys.modules.get("keras")
    sys.modules["keras"] = tf_keras
    try:
        import keras_tuner  # noqa: F401
    finally:
        if saved is None:
            sys.modules.pop("keras", None)
        else:
            sys.modules["keras"] = saved


def tfx_namespace(api: str):
    if api == "tfx":
        keras_tuner_on_keras_2()
        from tfx import v1 as tfx
    else:
        from penstock import tfx
    return tfx


def tuner_pipeline(tfx, data_root: str, work: str):
    module = os.path.join(HERE, "tuner_module.py")
    example_gen = tfx.components.CsvExampleGen(input_base=data_root)
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"])
    transform = tfx.components.Transform(examples=example_gen.outputs["examples"], schema=schema.outputs["schema"],
                                         module_file=module, disable_statistics=True)
    tuner = tfx.components.Tuner(module_file=module, examples=transform.outputs["transformed_examples"],
                                 transform_graph=transform.outputs["transform_graph"],
                                 train_args=tfx.proto.TrainArgs(num_steps=20), eval_args=tfx.proto.EvalArgs(num_steps=5))
    return [example_gen, statistics, schema, transform, tuner]


def bulk_inferrer_pipeline(tfx, data_root: str, model_dir: str):
    example_gen = tfx.components.CsvExampleGen(input_base=data_root)
    model = tfx.dsl.Importer(source_uri=model_dir, artifact_type=tfx.types.standard_artifacts.Model).with_id("model")
    inferrer = tfx.components.BulkInferrer(examples=example_gen.outputs["examples"], model=model.outputs["result"],
                                           data_spec=tfx.proto.DataSpec(), model_spec=tfx.proto.ModelSpec())
    return [example_gen, model, inferrer]


def component_times(api: str, metadata_path: str) -> dict:
    if api == "penstock":
        from penstock.metadata.connection import sqlite
        from penstock.metadata.store import MetadataStore

        store = MetadataStore(sqlite(metadata_path))
        run = store.latest_run(PIPELINE_NAME)
        return {r.component_id: {"seconds": (r.end_ms - r.start_ms) / 1000 if r.end_ms else None, "state": r.state}
                for r in store.run_executions(run.run_id)}
    from penguin_tfx import component_times as tfx_times  # bench/tfx/penguin_tfx.py reads TFX's MLMD

    components = tfx_times(metadata_path)["components"]
    return {name.split(".", 1)[1] if name.startswith(PIPELINE_NAME + ".") else name: value
            for name, value in components.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api", choices=["tfx", "penstock"], required=True)
    parser.add_argument("--scenario", choices=["tuner", "bulk_inferrer"], required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--model-dir")
    parser.add_argument("--times-json", required=True)
    args = parser.parse_args()
    os.environ["BENCH_API"] = args.api  # read by tuner_module.py in every process that loads it
    sys.path.insert(0, HERE)
    started = time.time()
    tfx = tfx_namespace(args.api)
    imported = time.time()
    metadata_path = os.path.join(args.work_dir, "metadata.db")
    if args.scenario == "tuner":
        components = tuner_pipeline(tfx, args.data_root, args.work_dir)
    else:
        components = bulk_inferrer_pipeline(tfx, args.data_root, args.model_dir)
    pipeline = tfx.dsl.Pipeline(
        pipeline_name=PIPELINE_NAME, pipeline_root=os.path.join(args.work_dir, "root"), components=components,
        enable_cache=False, beam_pipeline_args=BEAM_ARGS,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path))
    tfx.orchestration.LocalDagRunner().run(pipeline)
    done = time.time()
    with open(args.times_json, "w") as f:
        json.dump({"components": component_times(args.api, metadata_path), "import_seconds": imported - started,
                   "pipeline_seconds": done - imported}, f, indent=2, default=str)


if __name__ == "__main__":
    main()
