"""TFX's standard components with TFX's argument names, defaults and behaviour, on penstock's.

Each class subclasses penstock's component and turns TFX's arguments (``tfx.proto`` messages,
``None`` for "not given") into penstock's parameters. Where TFX's default differs from
penstock's, TFX's applies here (see ``penstock.tfx``); options penstock cannot honour fail at
declaration with a PipelineDefinitionError saying so, never silently.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from penstock import components as _components
from penstock.components.bulk_inferrer import BulkInferrer as _BulkInferrer
from penstock.components.tuner import Tuner as _Tuner
from penstock.errors import PipelineDefinitionError
from penstock.tfx._nodes import TfxNodeMixin


def _unsupported(component: str, argument: str, why: str) -> PipelineDefinitionError:
    return PipelineDefinitionError(f"{component}({argument}=...) is not supported by penstock.tfx: {why}")


def _given(**kwargs: Any) -> dict[str, Any]:
    """The arguments actually given (TFX passes None for "use the default")."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _is_placeholder(value: Any) -> bool:
    from penstock.dsl.conditional import Placeholder

    return isinstance(value, Placeholder)


def _args_dict(value: Any) -> dict[str, Any] | None:
    """TrainArgs / EvalArgs (a message or a dict) as penstock's ``{"num_steps": n, "splits": [...]}``;
    ``num_steps`` 0 means "not set", as in TFX."""
    if value is None:
        return None
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    if value.num_steps:
        out["num_steps"] = int(value.num_steps)
    if value.splits:
        out["splits"] = list(value.splits)
    return out


def example_gen_arguments(component: str, input_config: Any, output_config: Any, range_config: Any) -> dict[str, Any]:
    """penstock's ExampleGen parameters from TFX's ``Input``, ``Output`` and ``RangeConfig``."""
    out: dict[str, Any] = {}
    input_splits = list(input_config.splits) if input_config is not None else []
    if len(input_splits) == 1:
        out["input_pattern"] = input_splits[0].pattern
    elif input_splits:
        out["input_splits"] = {s.name: s.pattern for s in input_splits}
    if output_config is not None and output_config.HasField("split_config"):
        split_config = output_config.split_config
        if len(input_splits) > 1 and split_config.splits:
            raise PipelineDefinitionError(f"{component}: output_config must be empty when input_config is pre-split")
        if split_config.splits:
            out["output_splits"] = {s.name: int(s.hash_buckets) for s in split_config.splits}
        if split_config.partition_feature_name:
            out["split_key"] = split_config.partition_feature_name
    if range_config is not None:
        if _is_placeholder(range_config):
            raise _unsupported(component, "range_config", "a value computed at run time (a placeholder); give a "
                               "tfx.proto.RangeConfig, or input_pattern with {SPAN}")
        kind = range_config.WhichOneof("range")
        if kind == "static_range":
            low, high = range_config.static_range.start_span_number, range_config.static_range.end_span_number
            out.update({"span": low} if low == high else {"span_range": [low, high]})
        elif kind == "rolling_range" and range_config.rolling_range.num_spans > 1:
            raise _unsupported(component, "range_config", "a rolling range of several spans; use a static_range")
    return out


class CsvExampleGen(TfxNodeMixin, _components.CsvExampleGen):
    """TFX's CsvExampleGen: every file under ``input_base`` (or ``input_config``'s patterns)."""

    def __init__(self, input_base: str | None = None, input_config: Any = None, output_config: Any = None,
                 custom_config: Any = None, range_config: Any = None, **penstock_options: Any) -> None:
        if input_base is None:
            raise PipelineDefinitionError("CsvExampleGen needs input_base")
        super().__init__(input_base=input_base,
                         **example_gen_arguments("CsvExampleGen", input_config, output_config, range_config),
                         **penstock_options)


class ImportExampleGen(TfxNodeMixin, _components.ImportExampleGen):
    """TFX's ImportExampleGen: TFRecords of tf.Example under ``input_base``."""

    def __init__(self, input_base: str | None = None, input_config: Any = None, output_config: Any = None,
                 custom_config: Any = None, range_config: Any = None, payload_format: int | None = None,
                 **penstock_options: Any) -> None:
        if payload_format not in (None, 6):  # FORMAT_TF_EXAMPLE
            raise _unsupported("ImportExampleGen", "payload_format", "only tf.Example records are read")
        if input_base is None:
            raise PipelineDefinitionError("ImportExampleGen needs input_base")
        super().__init__(input_base=input_base,
                         **example_gen_arguments("ImportExampleGen", input_config, output_config, range_config),
                         **penstock_options)


class StatisticsGen(TfxNodeMixin, _components.StatisticsGen):
    def __init__(self, examples: Any = None, schema: Any = None, stats_options: Any = None,
                 exclude_splits: list[str] | None = None, **penstock_options: Any) -> None:
        if stats_options is not None:
            raise _unsupported("StatisticsGen", "stats_options", "penstock computes TFDV's default statistics "
                               "(sample_rate=... is available)")
        super().__init__(**_given(examples=examples, schema=schema, exclude_splits=exclude_splits), **penstock_options)


class SchemaGen(TfxNodeMixin, _components.SchemaGen):
    """TFX's SchemaGen: inferred from every split but ``exclude_splits``, without value bounds."""

    def __init__(self, statistics: Any = None, infer_feature_shape: bool = True,
                 exclude_splits: list[str] | None = None, **penstock_options: Any) -> None:
        options = {"infer_from_splits": [], "infer_value_bounds": False, **penstock_options}
        super().__init__(statistics=statistics, infer_feature_shape=bool(infer_feature_shape),
                         exclude_splits=list(exclude_splits or []), **options)


class ImportSchemaGen(TfxNodeMixin, _components.ImportSchemaGen):
    def __init__(self, schema_file: str, **penstock_options: Any) -> None:
        super().__init__(schema_file=schema_file, **penstock_options)


class ExampleValidator(TfxNodeMixin, _components.ExampleValidator):
    """TFX's ExampleValidator: anomalies are recorded and the run goes on (``gate="record"``);
    pass ``gate="stop"`` to stop the run on them (penstock's default)."""

    def __init__(self, statistics: Any = None, schema: Any = None, exclude_splits: list[str] | None = None,
                 custom_validation_config: Any = None, **penstock_options: Any) -> None:
        if custom_validation_config is not None:
            raise _unsupported("ExampleValidator", "custom_validation_config", "TFDV's SQL-based custom "
                               "validations are not run; use expected_anomalies / drift_thresholds")
        options = {"gate": "record", **penstock_options}
        super().__init__(**_given(statistics=statistics, schema=schema, exclude_splits=exclude_splits), **options)


class Transform(TfxNodeMixin, _components.Transform):
    """TFX's Transform: statistics computed unless ``disable_statistics`` (TFX's default)."""

    def __init__(self, examples: Any = None, schema: Any = None, module_file: str | None = None,
                 preprocessing_fn: str | None = None, splits_config: Any = None, analyzer_cache: Any = None,
                 materialize: bool = True, disable_analyzer_cache: bool = False, force_tf_compat_v1: bool = False,
                 custom_config: dict[str, Any] | None = None, disable_statistics: bool = False,
                 stats_options_updater_fn: str | None = None, **penstock_options: Any) -> None:
        if not materialize:
            raise _unsupported("Transform", "materialize=False", "transformed examples are always written")
        if force_tf_compat_v1:
            raise _unsupported("Transform", "force_tf_compat_v1=True", "preprocessing_fn runs in TF2 mode")
        if stats_options_updater_fn:
            raise _unsupported("Transform", "stats_options_updater_fn", "statistics use TFDV's defaults")
        splits: dict[str, Any] = {}
        if splits_config is not None:
            splits = {"analyze_splits": list(splits_config.analyze) or ["train"],
                      "transform_splits": list(splits_config.transform)}
        options = {"compute_statistics": not disable_statistics, **splits, **penstock_options}
        super().__init__(**_given(examples=examples, schema=schema, module_file=module_file,
                                  preprocessing_fn=preprocessing_fn,
                                  analyzer_cache=None if disable_analyzer_cache else analyzer_cache), **options)


def _check_generic_executor(component: str, custom_executor_spec: Any) -> None:
    if custom_executor_spec is None:
        return
    executor = getattr(custom_executor_spec, "executor_class", None)
    if getattr(executor, "__name__", "") != "GenericExecutor":
        raise _unsupported(component, "custom_executor_spec", "penstock runs run_fn with its own executor")


class Trainer(TfxNodeMixin, _components.Trainer):
    """TFX's Trainer: ``run_fn`` chooses its own distribution strategy (penstock opens none) and
    ``fn_args.hyperparameters`` is the Tuner's best HyperParameters config when wired."""

    def __init__(self, examples: Any = None, transformed_examples: Any = None, transform_graph: Any = None,
                 schema: Any = None, base_model: Any = None, hyperparameters: Any = None,
                 module_file: str | None = None, run_fn: str | None = None, trainer_fn: str | None = None,
                 train_args: Any = None, eval_args: Any = None, custom_config: dict[str, Any] | None = None,
                 custom_executor_spec: Any = None, **penstock_options: Any) -> None:
        if trainer_fn:
            raise _unsupported("Trainer", "trainer_fn", "Estimator trainers are not run; write a Keras run_fn")
        _check_generic_executor("Trainer", custom_executor_spec)
        options = {"strategy": "default", **penstock_options}
        super().__init__(**_given(
            examples=examples if examples is not None else transformed_examples, transform_graph=transform_graph,
            schema=schema, base_model=base_model, hyperparameters=hyperparameters, module_file=module_file,
            run_fn=run_fn, train_args=_args_dict(train_args), eval_args=_args_dict(eval_args),
            custom_config=custom_config), **options)


class Tuner(TfxNodeMixin, _Tuner):
    """TFX's Tuner: ``tuner_fn(fn_args) -> TunerFnResult``; trials run in parallel processes
    (``tune_args.num_parallel_trials``, default: one per core)."""

    def __init__(self, examples: Any = None, schema: Any = None, transform_graph: Any = None, base_model: Any = None,
                 module_file: str | None = None, tuner_fn: str | None = None, train_args: Any = None,
                 eval_args: Any = None, tune_args: Any = None, custom_config: dict[str, Any] | None = None,
                 **penstock_options: Any) -> None:
        parallel = {"num_parallel_trials": int(tune_args.num_parallel_trials)} if (
            tune_args is not None and tune_args.num_parallel_trials) else {}
        super().__init__(**_given(
            examples=examples, schema=schema, transform_graph=transform_graph, base_model=base_model,
            module_file=module_file, tuner_fn=tuner_fn, train_args=_args_dict(train_args),
            eval_args=_args_dict(eval_args), custom_config=custom_config), **parallel, **penstock_options)


class Evaluator(TfxNodeMixin, _components.Evaluator):
    """TFX's Evaluator: ``eval_config`` as ``tfma.EvalConfig(...)``; a config without thresholds
    blesses (TFX's behaviour)."""

    def __init__(self, examples: Any = None, model: Any = None, baseline_model: Any = None,
                 feature_slicing_spec: Any = None, fairness_indicator_thresholds: Any = None,
                 example_splits: list[str] | None = None, eval_config: Any = None, schema: Any = None,
                 module_file: str | None = None, module_path: str | None = None, **penstock_options: Any) -> None:
        if eval_config is None:
            raise _unsupported("Evaluator", "eval_config=None", "give a tfma.EvalConfig (feature_slicing_spec "
                               "and fairness_indicator_thresholds are TFX's legacy form)")
        if module_file or module_path:
            raise _unsupported("Evaluator", "module_file", "custom TFMA extractors are not loaded")
        options = {"bless_without_thresholds": True, **penstock_options}
        super().__init__(**_given(examples=examples, model=model, baseline_model=baseline_model,
                                  example_splits=list(example_splits) if example_splits else None,
                                  eval_config=eval_config, schema=schema), **options)


class InfraValidator(TfxNodeMixin, _components.InfraValidator):
    """TFX's InfraValidator: the model is served by penstock's own server (no Docker or
    Kubernetes: ``serving_spec``'s platform is not used) and must answer like itself."""

    def __init__(self, model: Any = None, serving_spec: Any = None, examples: Any = None, request_spec: Any = None,
                 validation_spec: Any = None, **penstock_options: Any) -> None:
        if examples is None:
            raise _unsupported("InfraValidator", "examples=None", "penstock replays eval examples through the server")
        options: dict[str, Any] = {}
        if request_spec is not None:
            if request_spec.split_name:
                options["example_split"] = request_spec.split_name
            if request_spec.num_examples:
                options["num_examples"] = int(request_spec.num_examples)
            names = list(request_spec.tensorflow_serving.signature_names)
            if names:
                options["signature_name"] = names[0]
        if validation_spec is not None and validation_spec.max_loading_time_seconds:
            options["load_timeout_seconds"] = float(validation_spec.max_loading_time_seconds)
        super().__init__(model=model, examples=examples, **{**options, **penstock_options})


class Pusher(TfxNodeMixin, _components.Pusher):
    """TFX's Pusher: pushes to ``push_destination.filesystem.base_directory/<version>/`` (TF
    Serving's layout); without ``model_blessing`` (e.g. inside ``Cond``) it pushes unconditionally."""

    SPEC = dataclasses.replace(_components.Pusher.SPEC, inputs={
        **_components.Pusher.SPEC.inputs,
        "model_blessing": dataclasses.replace(_components.Pusher.SPEC.inputs["model_blessing"], optional=True,
                                              description="the Evaluator's verdict; without it the model is pushed"),
    })

    def __init__(self, model: Any = None, model_blessing: Any = None, infra_blessing: Any = None,
                 push_destination: Any = None, custom_config: dict[str, Any] | None = None,
                 custom_executor_spec: Any = None, **penstock_options: Any) -> None:
        if custom_executor_spec is not None:
            raise _unsupported("Pusher", "custom_executor_spec", "penstock pushes to a filesystem destination")
        options: dict[str, Any] = {}
        if push_destination is not None:
            base = push_destination if isinstance(push_destination, str) else push_destination.filesystem.base_directory
            if not base:
                raise PipelineDefinitionError("Pusher: push_destination.filesystem.base_directory is empty")
            base = os.path.abspath(base) if "://" not in base else base.rstrip("/")
            # TFX writes <base_directory>/<version>/: penstock's <destination>/<model_name>/<version>/.
            options = {"push_destination": os.path.dirname(base) if "://" not in base else base.rsplit("/", 1)[0],
                       "model_name": os.path.basename(base) if "://" not in base else base.rsplit("/", 1)[1]}
        super().__init__(**_given(model=model, model_blessing=model_blessing, infra_blessing=infra_blessing),
                         **{**options, **penstock_options})


class BulkInferrer(TfxNodeMixin, _BulkInferrer):
    """TFX's BulkInferrer: PredictionLogs (``inference_result``), or examples with predictions
    (``output_examples``) when ``output_example_spec`` is given. Infers with the model it is
    given; ``model_blessing``, when wired, gates it (as TFX)."""

    def __init__(self, examples: Any = None, model: Any = None, model_blessing: Any = None, data_spec: Any = None,
                 model_spec: Any = None, output_example_spec: Any = None, **penstock_options: Any) -> None:
        options: dict[str, Any] = {"require_blessing": False, "output_format": "prediction_log"}
        if data_spec is not None and list(data_spec.example_splits):
            options["example_splits"] = list(data_spec.example_splits)
        if model_spec is not None:
            if list(model_spec.model_signature_name):
                options["signature_names"] = list(model_spec.model_signature_name)
            if list(model_spec.tag):
                options["tags"] = list(model_spec.tag)
        if output_example_spec is not None:
            from google.protobuf import json_format

            options["output_format"] = "examples"
            options["output_example_spec"] = json_format.MessageToDict(output_example_spec,
                                                                       preserving_proto_field_name=True)
        super().__init__(**_given(examples=examples, model=model, model_blessing=model_blessing),
                         **{**options, **penstock_options})
