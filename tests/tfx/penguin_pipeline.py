"""A pipeline file written TFX's way (only the imports are penstock's): built and run under
``__main__`` with absl flags, TFX's components and protos, a TFMA EvalConfig object, a
latest-blessed-model Resolver, Tuner -> Trainer, a Pusher guarded by Cond, and a BulkInferrer
over unlabelled data. Paths come from flags so the test can place everything."""

import os
import sys

import tensorflow_model_analysis as tfma
from absl import flags
from google.protobuf import text_format

from penstock import tfx

flags.DEFINE_string("root", os.environ.get("PENGUIN_TFX_ROOT"), "where data, pipeline root, metadata and serving dir live")
flags.DEFINE_integer("train_steps", 60, "training steps")


EVAL_CONFIG = """
model_specs { signature_name: "serving_default" label_key: "species_xf"
              preprocessing_function_names: "transform_features" }
slicing_specs {}
metrics_specs { metrics { class_name: "SparseCategoricalAccuracy" threshold {
    value_threshold { lower_bound { value: 0.5 } }
    change_threshold { direction: HIGHER_IS_BETTER absolute { value: -1e-10 } } } } }
"""


def create_pipeline(pipeline_name, pipeline_root, data_root, module_file, serving_model_dir, metadata_path,
                    train_steps, beam_pipeline_args):
    example_gen = tfx.components.CsvExampleGen(input_base=os.path.join(data_root, "labelled"))
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                                        schema=schema_gen.outputs["schema"])
    transform = tfx.components.Transform(examples=example_gen.outputs["examples"],
                                         schema=schema_gen.outputs["schema"], module_file=module_file,
                                         disable_statistics=True)
    # Workers in other processes must import the module file (Beam's multi-processing mode).
    transform.with_beam_pipeline_args(["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    tuner = tfx.components.Tuner(module_file=module_file, examples=transform.outputs["transformed_examples"],
                                 transform_graph=transform.outputs["transform_graph"],
                                 train_args=tfx.proto.TrainArgs(num_steps=10),
                                 eval_args=tfx.proto.EvalArgs(num_steps=3),
                                 tune_args=tfx.proto.TuneArgs(num_parallel_trials=2))
    trainer = tfx.components.Trainer(module_file=module_file, examples=transform.outputs["transformed_examples"],
                                     transform_graph=transform.outputs["transform_graph"],
                                     schema=schema_gen.outputs["schema"],
                                     hyperparameters=tuner.outputs["best_hyperparameters"],
                                     train_args=tfx.proto.TrainArgs(num_steps=train_steps),
                                     eval_args=tfx.proto.EvalArgs(num_steps=5))
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    eval_config = text_format.Parse(EVAL_CONFIG, tfma.EvalConfig())  # a TFMA message object
    evaluator = tfx.components.Evaluator(examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
                                         baseline_model=model_resolver.outputs["model"], eval_config=eval_config)
    with tfx.dsl.Cond(evaluator.outputs["blessing"].future()[0].custom_property("blessed") == 1):
        pusher = tfx.components.Pusher(
            model=trainer.outputs["model"],
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)))
    example_gen_unlabelled = tfx.components.CsvExampleGen(
        input_base=os.path.join(data_root, "unlabelled")).with_id("CsvExampleGen_Unlabelled")
    bulk_inferrer = tfx.components.BulkInferrer(
        examples=example_gen_unlabelled.outputs["examples"], model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"], data_spec=tfx.proto.DataSpec(), model_spec=tfx.proto.ModelSpec())
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name, pipeline_root=pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, example_validator, transform, tuner, trainer,
                    model_resolver, evaluator, pusher, example_gen_unlabelled, bulk_inferrer],
        enable_cache=True,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path),
        beam_pipeline_args=beam_pipeline_args)


if __name__ == "__main__":
    flags.FLAGS(sys.argv)
    root = flags.FLAGS.root
    tfx.orchestration.LocalDagRunner().run(create_pipeline(
        pipeline_name="penguin_tfx_style",
        pipeline_root=os.path.join(root, "tfx", "pipelines", "penguin_tfx_style"),
        data_root=os.path.join(root, "data"),
        module_file=os.path.join(os.path.dirname(os.path.abspath(__file__)), "penguin_module.py"),
        serving_model_dir=os.path.join(root, "serving_model", "penguin_tfx_style"),
        metadata_path=os.path.join(root, "tfx", "metadata", "metadata.db"),
        train_steps=flags.FLAGS.train_steps,
        beam_pipeline_args=[]))
