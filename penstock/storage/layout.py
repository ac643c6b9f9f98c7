"""Where everything lives: the pipeline root's layout and each artifact type's files, in TFX's
layout, so artifacts written by penstock read naturally to TFX tooling and back.

    <pipeline root>/<component id>/<output key>/<execution id>/   one execution's output
    <pipeline root>/.temp/<execution id>/                         its scratch space on the root

Execution ids are unique in a metadata store, so every execution writes under a prefix of its
own: nothing is ever renamed into place (object stores cannot rename), and ML Metadata's LIVE
record is the commit point (see ``penstock.storage.staging``).
"""

from __future__ import annotations

from penstock.storage.filesystem import join

TEMP_DIR = ".temp"

# Examples, ExampleStatistics, ExampleAnomalies: one folder per split.
SPLIT_PREFIX = "Split-"
STATISTICS_FILE = "FeatureStats.pb"
SCHEMA_FILE = "schema.pbtxt"
ANOMALIES_FILE = "SchemaDiff.pb"
# TransformGraph: tf.Transform's folder (transform_fn/, transformed_metadata/, metadata/) plus
# penstock's paired raw/transformed eval rows for the Trainer's skew check.
SKEW_SAMPLE_DIR = "penstock_skew_sample"
SKEW_SAMPLE_FILE = "pairs.tfrecord.gz"
# Model: the SavedModel for serving, and where TFX puts an EvalSavedModel.
SERVING_MODEL_DIR = "Format-Serving"
EVAL_MODEL_DIR = "Format-TFMA"
# ModelBlessing / InfraBlessing: TFX's marker files plus penstock's explanation.
BLESSED_FILE, NOT_BLESSED_FILE = "BLESSED", "NOT_BLESSED"
INFRA_BLESSED_FILE, INFRA_NOT_BLESSED_FILE = "INFRA_BLESSED", "INFRA_NOT_BLESSED"
BLESSING_FILE = "blessing.json"
EXPLANATION_FILE = "explanation.txt"
HYPERPARAMETERS_FILE = "hyperparameters.json"
# Tuner outputs, TFX's names: the best HyperParameters config and every trial's record.
BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.txt"
TUNER_RESULTS_FILE = "tuner_results.json"
TUNER_TRIALS_FILE = "trials.json"
# BulkInferrer: TFX's file prefixes for PredictionLogs and for examples with predictions.
PREDICTION_LOGS_PREFIX = "prediction_logs"
INFERENCE_EXAMPLES_PREFIX = "examples"
INFERENCE_PARQUET_PREFIX = "predictions"
VALUE_FILE = "value"
PUSH_RECORD_FILE = "push.json"
# Written into an output that would otherwise hold no object: on an object store a folder with
# nothing in it does not exist, and a cache lookup must tell "empty" from "gone".
EMPTY_MARKER = ".penstock-empty"


def output_uri(pipeline_root: str, component_id: str, output_key: str, execution_id: int) -> str:
    return join(pipeline_root, component_id, output_key, str(execution_id))


def execution_temp_uri(pipeline_root: str, execution_id: int) -> str:
    return join(pipeline_root, TEMP_DIR, str(execution_id))


def split_dir(artifact_uri: str, split: str) -> str:
    return join(artifact_uri, f"{SPLIT_PREFIX}{split}")
