"""Executor of :class:`penstock.components.trainer.Trainer` (imported only when it runs).

Builds TFX-compatible ``FnArgs``, runs ``run_fn`` inside the chosen distribution strategy's
scope, checks that a SavedModel was exported to ``<model uri>/Format-Serving`` and, when a
transform graph is wired in, runs the training/serving skew check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any

from penstock import _env
from penstock.components.trainer.fn_args_utils import DataAccessor, FnArgs, HyperParameterConfig
from penstock.dsl.artifact import Artifact
from penstock.errors import UserCodeError
from penstock.runtime.context import ExecutorContext
from penstock.runtime.user_code import describe_user_exception
from penstock.runtime.user_functions import resolve_user_function
from penstock.storage import examples as examples_io
from penstock.storage import filesystem, layout
from penstock.storage import hyperparameters as hyperparameters_io
from penstock.storage import model as model_io
from penstock.storage import schema as schema_io


def _files(component_id: str, examples: Artifact, splits: list[str], which: str) -> list[str]:
    examples_io.require_splits(component_id, examples, splits, f"{which} examples")
    return [examples_io.split_pattern(examples, s) for s in splits]


def _hyperparameters(ctx: ExecutorContext) -> dict[str, Any]:
    """A plain dict given to ``Trainer(hyperparameters=...)`` as is; a HyperParameters artifact
    (a Tuner's best) as TFX passes it: the KerasTuner config itself, so
    ``keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)`` works."""
    artifact = ctx.optional_input("hyperparameters")
    if artifact is None:
        return dict(ctx.parameters["hyperparameters"] or {})
    loaded = hyperparameters_io.load(artifact, ctx.component_id)
    if isinstance(loaded.get("values"), dict):
        # A KerasTuner config (space + values) stays whole; values alone are unwrapped.
        return HyperParameterConfig(loaded) if "space" in loaded else dict(loaded["values"])
    return loaded


def common_fn_args(ctx: ExecutorContext, working_dir: str) -> FnArgs:
    """What both run_fn (Trainer) and tuner_fn (Tuner) get, as TFX's ``get_common_fn_args``:
    the examples' files per split, steps, schema, transform graph, base model, custom config."""
    params = ctx.parameters
    train_args = dict(params["train_args"] or {})
    eval_args = dict(params["eval_args"] or {})
    examples = ctx.input("examples")
    schema_artifact = ctx.optional_input("schema")
    transform_graph = ctx.optional_input("transform_graph")
    base_model = ctx.optional_input("base_model")
    schema_path = filesystem.join(schema_artifact.uri, layout.SCHEMA_FILE) if schema_artifact else None
    os.makedirs(working_dir, exist_ok=True)
    return FnArgs(
        working_dir=working_dir,
        train_files=_files(ctx.component_id, examples, list(train_args.get("splits") or ["train"]), "train"),
        eval_files=_files(ctx.component_id, examples, list(eval_args.get("splits") or ["eval"]), "eval"),
        train_steps=train_args.get("num_steps"),
        eval_steps=eval_args.get("num_steps"),
        schema_path=schema_path,
        schema_file=schema_path,
        transform_graph_path=transform_graph.uri if transform_graph else None,
        transform_output=transform_graph.uri if transform_graph else None,
        data_accessor=data_accessor(schema_path, transform_graph.uri if transform_graph else None),
        base_model=model_io.serving_dir_for_export(base_model.uri) if base_model else None,
        custom_config=dict(params["custom_config"] or {}),
    )


def data_accessor(schema_path: str | None, transform_graph_uri: str | None) -> DataAccessor:
    """The DataAccessor whose default schema is the transformed one (with a transform graph) or
    the input schema."""
    default_schema = None
    if transform_graph_uri is not None:
        import tensorflow_transform as tft

        default_schema = tft.TFTransformOutput(transform_graph_uri).transformed_metadata.schema
    elif schema_path is not None:
        default_schema = schema_io.load(filesystem.dirname(schema_path))
    return DataAccessor(default_schema=default_schema)


def build_fn_args(ctx: ExecutorContext, strategy_name: str) -> FnArgs:
    model_uri = ctx.output("model").uri
    filesystem.makedirs(ctx.output("model_run").uri)
    fn_args = common_fn_args(ctx, os.path.join(ctx.tmp_dir, "working_dir"))
    return dataclasses.replace(
        fn_args,
        serving_model_dir=model_io.serving_dir_for_export(model_uri),
        eval_model_dir=filesystem.join(model_uri, layout.EVAL_MODEL_DIR),
        model_run_dir=ctx.output("model_run").uri,
        hyperparameters=_hyperparameters(ctx),
        distribution_strategy=strategy_name,
    )


def run(ctx: ExecutorContext) -> None:
    from penstock.components.trainer.distribution import resolve_strategy
    from penstock.components.trainer.skew_check import check_skew

    _env.skip_autograph_for_libraries()
    params = ctx.parameters
    run_fn, where = resolve_user_function(ctx.component_id, params, "run_fn", "run_fn")
    strategy, strategy_name = resolve_strategy(str(params["strategy"]), ctx.component_id)
    fn_args = build_fn_args(ctx, strategy_name)
    ctx.log.info("Trainer: running %s under the %s strategy", where, strategy_name)

    try:
        # The default strategy needs no scope, and entering it would make a run_fn that opens its
        # own (TFX's examples open a MirroredStrategy) fail in model.fit with "Mixing different
        # tf.distribute.Strategy objects".
        with strategy.scope() if strategy_name != "default" else contextlib.nullcontext():
            run_fn(fn_args)
    except UserCodeError:
        raise
    except Exception as e:  # anything the user's code raises
        hint = ""
        if "Mixing different tf.distribute.Strategy" in str(e):
            hint = (f" ({where} opens its own tf.distribute strategy inside the {strategy_name!r} one "
                    "penstock opened: set Trainer(strategy='default') to let run_fn choose)")
        raise UserCodeError(f"{ctx.component_id}: {where} raised {describe_user_exception(e)}{hint}") from e

    serving_dir = str(fn_args.serving_model_dir)
    if not model_io.has_saved_model(serving_dir):
        raise UserCodeError(
            f"{ctx.component_id}: {where} returned without exporting a model: "
            f"fn_args.serving_model_dir ({serving_dir}) holds no saved_model.pb. End run_fn with "
            "penstock.components.trainer.export_serving_model(model, fn_args.transform_output, "
            "fn_args.serving_model_dir, label_key=...) or model.save(fn_args.serving_model_dir)"
        )

    model = ctx.output("model")
    model.custom_properties["run_fn"] = where
    model.custom_properties["strategy"] = strategy_name
    transform_graph = ctx.optional_input("transform_graph")
    if not params["skew_check"]:
        model.custom_properties["skew_check"] = "disabled"
        return
    if transform_graph is None:
        model.custom_properties["skew_check"] = "skipped: no transform_graph"
        ctx.log.info("skew check skipped: no transform_graph wired into the Trainer")
        return
    report = check_skew(
        ctx.component_id, serving_dir, transform_graph.uri,
        max_rows=int(params["skew_check_rows"]),
        tolerance=float(params["skew_tolerance"]), log=ctx.log,
    )
    if report is None:
        model.custom_properties["skew_check"] = "skipped: no eval sample in the transform graph"
        return
    model.custom_properties.update({
        "skew_check": "passed",
        "skew_check_rows": report.rows,
        "skew_check_max_abs_diff": report.max_abs_diff,
        "skew_check_signatures": ",".join(report.signatures),
    })
    ctx.log.info("skew check passed on %d eval rows (%s), max |difference| %.3g",
                 report.rows, ", ".join(report.signatures), report.max_abs_diff)

