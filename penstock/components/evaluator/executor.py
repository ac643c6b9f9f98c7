"""The Evaluator's executor: check the inputs against the EvalConfig, run TFMA on Beam, decide.

Every user mistake that can be found before TFMA starts is found first: splits without data, a
model without a SavedModel, a label or slice feature the schema (or, without a schema, the eval
examples) does not have, a metric class TFMA cannot resolve. TFMA then reads the raw serialized
examples (the model's ``serving_default`` signature parses them, exactly as in serving), computes
the metrics per slice and validates the thresholds; the ValidationResult becomes the blessing.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import json
from typing import Any

from penstock import _env
from penstock.components.evaluator.config import (
    EvalConfigError,
    has_change_thresholds,
    has_value_thresholds,
    iter_thresholds,
    parse_eval_config,
    referenced_features,
)
from penstock.components.evaluator.explanation import OVERALL, explain_failures, slice_text
from penstock.components.evaluator.messages import tfma_failures_explained
from penstock.dsl.artifact import Artifact
from penstock.errors import InputDataError, PipelineDefinitionError, UserCodeError
from penstock.runtime.context import ExecutorContext
from penstock.storage import blessing as blessing_io
from penstock.storage import examples as examples_io
from penstock.storage import filesystem
from penstock.storage import model as model_io
from penstock.storage import schema as schema_io

METRICS_SUMMARY = "metrics_summary.json"


def run(ctx: ExecutorContext) -> None:
    _env.skip_autograph_for_libraries()
    try:
        config = parse_eval_config(ctx.parameters["eval_config"])
    except EvalConfigError as e:
        raise PipelineDefinitionError(f"{ctx.component_id}: {e}") from None
    model = ctx.input("model")
    baseline = ctx.optional_input("baseline_model")
    if baseline is not None and baseline.id == model.id:
        baseline = None  # the candidate is already the latest blessed model: nothing to compare with
    inputs = check_inputs(ctx, config, model, baseline)  # everything a user can get wrong, before TFMA

    import tensorflow_model_analysis as tfma

    check_metric_classes(ctx.component_id, config)
    has_thresholds = has_value_thresholds(config) or has_change_thresholds(config)
    notes: list[str] = []
    if has_change_thresholds(config) and baseline is None:
        notes.append("no blessed baseline model yet: change thresholds skipped (they apply from the next model on)")
    config = tfma.utils.update_eval_config_with_defaults(
        config, has_baseline=baseline is not None, rubber_stamp=baseline is None
    )
    with tfma_failures_explained():
        run_tfma(ctx, config, inputs.patterns, inputs.schema, inputs.model_path, inputs.baseline_path,
                 ctx.output("evaluation").uri)
    record_verdict(ctx, config, model, baseline, has_thresholds, notes)


@dataclasses.dataclass
class CheckedInputs:
    patterns: list[str]
    schema: Any
    model_path: str
    baseline_path: str | None


def check_inputs(ctx: ExecutorContext, config: Any, model: Artifact, baseline: Artifact | None) -> CheckedInputs:
    """Splits with data, SavedModels present, and every feature the EvalConfig names present in
    the schema (or, without one, in the eval examples) or made by the model's preprocessing."""
    examples = ctx.input("examples")
    schema_artifact = ctx.optional_input("schema")
    splits = list(ctx.parameters["example_splits"])
    files = [f for split in splits for f in examples_io.split_files(ctx.component_id, examples, split, "eval examples")]
    model_path = model_io.serving_dir(model, role="model")
    baseline_path = model_io.serving_dir(baseline, role="baseline model") if baseline is not None else None
    schema = None
    if schema_artifact is not None:
        schema = schema_io.load(schema_artifact.uri)
        available = {f.name for f in schema.feature} | {f.name for f in schema.sparse_feature}
        source = f"the schema ({schema_artifact.uri})"
    else:
        available = sample_feature_names(files)
        source = f"the {'/'.join(splits)} examples"
    preprocessed = preprocessing_outputs(ctx.component_id, config, model_path)
    if preprocessed:
        available |= preprocessed
        source += " or the model's preprocessing signatures"
    check_features(ctx.component_id, config, available, source)
    patterns = [examples_io.split_pattern(examples, split) for split in splits]
    return CheckedInputs(patterns, schema, model_path, baseline_path)


def record_verdict(ctx: ExecutorContext, config: Any, model: Artifact, baseline: Artifact | None,
                   has_thresholds: bool, notes: list[str]) -> None:
    """Read what TFMA wrote, decide, and record the blessing with its explanation."""
    import tensorflow_model_analysis as tfma

    evaluation, blessing = ctx.output("evaluation"), ctx.output("blessing")
    summary = summarize_metrics(tfma.load_metrics(evaluation.uri))
    filesystem.write_json(filesystem.join(evaluation.uri, METRICS_SUMMARY), summary)
    validation = tfma.load_validation_result(evaluation.uri)
    baseline_values = {
        (where, name): value for where, metrics in summary.get("baseline", {}).items() for name, value in metrics.items()
    }
    failures = explain_failures(validation, baseline_values)
    checked = sum(
        1 for ref in iter_thresholds(config)
        if ref.threshold.HasField("value_threshold") or ref.threshold.HasField("change_threshold")
    )
    blessed, headline = decide(
        has_thresholds=has_thresholds, checked=checked, failures=failures,
        validation_ok=bool(validation.validation_ok), baseline_id=baseline.id if baseline is not None else None,
        bless_without_thresholds=bool(ctx.parameters["bless_without_thresholds"]),
    )
    explanation = "\n".join([headline, *(f"- {line}" for line in failures), *(f"note: {n}" for n in notes)])
    evaluation.custom_properties["validation_ok"] = int(bool(validation.validation_ok))
    overall = summary.get("candidate", {}).get(OVERALL, {})
    evaluation.custom_properties["overall_metrics"] = json.dumps(overall, sort_keys=True)[:4000]
    record_blessing(blessing, blessed=blessed, model=model, baseline=baseline, explanation=explanation,
                    failures=failures, notes=notes, summary=summary)
    (ctx.log.info if blessed else ctx.log.warning)("model %s %s", model.id, explanation)


def decide(*, has_thresholds: bool, checked: int, failures: list[str], validation_ok: bool,
           baseline_id: int | None, bless_without_thresholds: bool) -> tuple[bool, str]:
    """The blessing and its headline, from what TFMA found: no thresholds blesses only when the
    user says so; thresholds that could all be checked must all pass; change thresholds alone,
    with no baseline yet (the first model), bless."""
    if not has_thresholds:
        if bless_without_thresholds:
            return True, "blessed without thresholds: bless_without_thresholds=True"
        return False, ("not blessed: the eval_config has no thresholds, so nothing shows the model is good enough "
                       "(add value/change thresholds, or set bless_without_thresholds=True to bless anyway)")
    if not checked:
        return True, "blessed: no threshold left to check without a baseline"
    if failures or not validation_ok:
        return False, f"not blessed: {len(failures) or 'some'} threshold check(s) failed"
    against = f" against baseline model {baseline_id}" if baseline_id is not None else ""
    return True, f"blessed: every threshold passed{against}"


def sample_feature_names(files: list[str], limit: int = 200) -> set[str]:
    """Feature names seen in the first examples (used when no schema is wired in)."""
    import tensorflow as tf

    from penstock.codecs.tfrecords import iter_records

    names: set[str] = set()
    seen = 0
    for path in files:
        for record in iter_records(path):
            names.update(tf.train.Example.FromString(record).features.feature.keys())
            seen += 1
            if seen >= limit:
                return names
    return names


def preprocessing_outputs(component_id: str, config: Any, model_path: str) -> set[str]:
    """Names the model's ``preprocessing_function_names`` signatures add to the features (e.g. a
    transformed label), read from saved_model.pb without loading the model."""
    names = {n for spec in config.model_specs for n in spec.preprocessing_function_names}
    if not names:
        return set()
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(filesystem.read_bytes(filesystem.join(model_path, "saved_model.pb")))
    signatures = saved_model.meta_graphs[0].signature_def
    outputs: set[str] = set()
    for name in names:
        if name not in signatures:
            raise InputDataError(
                f"{component_id}: eval_config model_specs.preprocessing_function_names names signature {name!r}, "
                f"which the model does not export (signatures: {', '.join(sorted(signatures))})"
            )
        outputs.update(signatures[name].outputs.keys())
    return outputs


def check_features(component_id: str, config: Any, available: set[str], source: str) -> None:
    for name, where in referenced_features(config).items():
        if name not in available:
            close = difflib.get_close_matches(name, sorted(available), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise InputDataError(
                f"{component_id}: eval_config {where} names feature {name!r}, which {source} does not have"
                f"{hint} (features: {', '.join(sorted(available))})"
            )


def check_metric_classes(component_id: str, config: Any) -> None:
    """Resolve every metric as TFMA will (TFMA's registry, then tf_keras, or the given module)."""
    import tf_keras
    from tensorflow_model_analysis.metrics import metric_types

    registered = metric_types.registered_metrics()
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            name = metric.class_name
            if metric.module:
                try:
                    module = importlib.import_module(metric.module)
                except Exception as e:
                    raise UserCodeError(
                        f"{component_id}: metric {name!r}: module {metric.module!r} cannot be imported: "
                        f"{type(e).__name__}: {e}"
                    ) from None
                if not hasattr(module, name):
                    raise UserCodeError(f"{component_id}: metric {name!r}: module {metric.module!r} has no {name}")
                continue
            if name in registered or hasattr(tf_keras.metrics, name) or hasattr(tf_keras.losses, name):
                continue
            known = sorted(set(registered) | {n for n in dir(tf_keras.metrics) if n[:1].isupper()})
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise PipelineDefinitionError(
                f"{component_id}: eval_config metric {name!r} does not exist in TFMA or tf_keras.metrics{hint} "
                '(a metric of your own needs "module": "your.module")'
            )


def run_tfma(
    ctx: ExecutorContext, config: Any, patterns: list[str], schema: Any, model_path: str,
    baseline_path: str | None, output_path: str,
) -> None:
    import apache_beam as beam
    import tensorflow_model_analysis as tfma
    from tfx_bsl.public import tfxio

    from penstock.beam.pipeline import make_pipeline
    from penstock.components.evaluator import fast_confusion

    if fast_confusion.enabled():
        fast_confusion.install()  # the same matrices, without TFMA's general per-example extraction
    paths = {False: model_path, True: baseline_path}
    shared_models = [
        tfma.default_eval_shared_model(
            eval_saved_model_path=paths[spec.is_baseline], model_name=spec.name, eval_config=config
        )
        for spec in config.model_specs
    ]
    tensor_adapter_config = None
    with make_pipeline(ctx.beam_pipeline_args) as pipeline:
        reads = []
        for i, pattern in enumerate(patterns):
            source = tfxio.TFExampleRecord(pattern, schema=schema, raw_record_column_name=tfma.ARROW_INPUT_COLUMN)
            reads.append(pipeline | f"Read[{i}]" >> source.BeamSource())
            if schema is not None:
                tensor_adapter_config = tfxio.TensorAdapterConfig(
                    arrow_schema=source.ArrowSchema(), tensor_representations=source.TensorRepresentations()
                )
        _ = (
            reads
            | "Flatten" >> beam.Flatten()
            | "Evaluate" >> tfma.ExtractEvaluateAndWriteResults(
                eval_shared_model=shared_models[0] if len(shared_models) == 1 else shared_models,
                eval_config=config,
                output_path=output_path,
                tensor_adapter_config=tensor_adapter_config,
            )
        )


def summarize_metrics(metrics_for_slices: Any) -> dict[str, dict[str, dict[str, float]]]:
    """``{"candidate"|"baseline"|"diff": {slice text: {metric: value}}}`` for scalar metrics."""
    from penstock.components.evaluator.explanation import metric_text

    summary: dict[str, dict[str, dict[str, float]]] = {}
    for per_slice in metrics_for_slices:
        if per_slice.HasField("cross_slice_key"):
            continue
        where = slice_text(per_slice.slice_key)
        for entry in per_slice.metric_keys_and_values:
            if not entry.value.HasField("double_value"):
                continue
            key = entry.key
            role = "diff" if key.is_diff else ("baseline" if key.model_name == "baseline" else "candidate")
            summary.setdefault(role, {}).setdefault(where, {})[metric_text(key)] = entry.value.double_value.value
    return summary


def record_blessing(
    blessing: Artifact, *, blessed: bool, model: Artifact, baseline: Artifact | None, explanation: str,
    failures: list[str], notes: list[str], summary: dict[str, Any],
) -> None:
    if baseline is not None:
        blessing.custom_properties["baseline_model_id"] = int(baseline.id or 0)
    blessing_io.write(blessing, blessed=blessed, model_id=model.id, explanation=explanation, details={
        "blessed": blessed,
        "model_id": model.id,
        "baseline_model_id": baseline.id if baseline is not None else None,
        "failures": failures,
        "notes": notes,
        "explanation": explanation,
        "overall_metrics": summary.get("candidate", {}).get(OVERALL, {}),
    })
