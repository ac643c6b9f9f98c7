"""Executor of :class:`penstock.components.bulk_inferrer.BulkInferrer` (imported when it runs).

The Beam pipeline shuffles read tasks, not rows: one element per input file, and the worker
that takes it streams the file's records in blocks, calls every model's signature on batches of
serialized examples, encodes the outputs column-wise (``penstock.codecs.prediction_log``,
``example_encoder``, Parquet) and writes its own output shard. Any runner works; on one machine
the per-row Beam overhead TFX's RunInference pays (an element, a PredictionLog object and a
TensorProto per row) is gone.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from penstock import _env
from penstock.components.bulk_inferrer.component import EXTRA_MODEL_PREFIX
from penstock.dsl.artifact import Artifact
from penstock.errors import ExecutionError, InputDataError, PipelineDefinitionError
from penstock.runtime.context import ExecutorContext
from penstock.storage import examples as examples_io
from penstock.storage import filesystem, layout
from penstock.storage import model as model_io


@dataclasses.dataclass(frozen=True)
class ModelPlan:
    name: str  # "" for the main model: its columns carry no prefix
    path: str
    signature: str
    model_id: int | None


@dataclasses.dataclass(frozen=True)
class Task:
    split: str
    source: str
    target: str  # the output shard's URI
    count_uri: str


@dataclasses.dataclass(frozen=True)
class Plan:
    models: list[ModelPlan]
    tags: list[str]
    output_format: str
    carry: list[str] | None
    columns: dict[str, str]  # output key -> column name (output_example_spec)
    batch_size: int


def run(ctx: ExecutorContext) -> None:
    _env.skip_autograph_for_libraries()
    params = ctx.parameters
    output_key = "output_examples" if params["output_format"] == "examples" else "inference_result"
    output = ctx.output(output_key)
    models = _models(ctx)
    refusal = _refusal(ctx, models)
    if refusal is not None:
        output.custom_properties.update({"inferred": 0, "reason": refusal})
        filesystem.write_json(filesystem.join(output.uri, "not_inferred.json"), {"reason": refusal})
        ctx.log.warning("%s: no inference: %s", ctx.component_id, refusal)
        return
    examples = ctx.input("examples")
    available = examples_io.split_names(examples)
    splits = list(params["example_splits"]) or available
    examples_io.require_splits(ctx.component_id, examples, splits, "examples")
    signatures = list(params["signature_names"]) or ["serving_default"]
    if len(signatures) > 1:
        raise PipelineDefinitionError(f"{ctx.component_id}: one signature per model is supported, got {signatures}")
    plan = Plan(
        models=[ModelPlan(name, model_io.serving_dir(artifact, role=f"model {name or 'model'}"), signatures[0],
                          artifact.id) for name, artifact in models],
        tags=list(params["tags"]), output_format=params["output_format"], carry=params["carry_features"],
        columns=_columns(ctx.component_id, params["output_example_spec"]), batch_size=int(params["batch_size"]),
    )
    tasks = _tasks(ctx, examples, splits, output.uri, plan)
    _run_beam(ctx, tasks, plan)
    rows: dict[str, int] = {}
    for task in tasks:
        rows[task.split] = rows.get(task.split, 0) + int(filesystem.read_text(task.count_uri))
    if params["output_format"] == "examples":
        output.split_names = splits
    output.custom_properties.update({
        "inferred": 1, "rows": json.dumps(rows, sort_keys=True), "output_format": plan.output_format,
        "models": json.dumps({m.name or "model": m.model_id for m in plan.models}, sort_keys=True),
        "signature_name": signatures[0],
    })
    ctx.log.info("%s: %d rows inferred (%s) with %d model(s)", ctx.component_id, sum(rows.values()),
                 ", ".join(f"{k}: {v}" for k, v in rows.items()), len(plan.models))


def _models(ctx: ExecutorContext) -> list[tuple[str, Artifact]]:
    models = [("", ctx.input("model"))]
    for name in ctx.parameters["extra_models"]:
        models.append((name, ctx.input(f"{EXTRA_MODEL_PREFIX}{name}")))
    return models


def _refusal(ctx: ExecutorContext, models: list[tuple[str, Artifact]]) -> str | None:
    """Why no model may be used, or None. A wired blessing gates (TFX); with require_blessing
    every model needs a positive blessing recorded in ML Metadata."""
    blessing = ctx.optional_input("model_blessing")
    if blessing is not None:
        if blessing.get_property("blessed") != 1:
            return (f"model {models[0][1].id} is not blessed (ModelBlessing {blessing.id}): "
                    f"{blessing.custom_properties.get('explanation', 'no explanation recorded')}")
        return None
    if not ctx.parameters["require_blessing"]:
        return None
    if ctx.metadata_config is None:
        return "require_blessing is set but no ML Metadata store is at hand to find blessings: wire model_blessing"
    from penstock.dsl.standard_artifacts import ModelBlessing
    from penstock.metadata.store import MetadataStore

    store = MetadataStore(ctx.metadata_config)
    blessed = {b.get_property("model_id") for b in store.live_artifacts_of_type(ctx.pipeline_name, ModelBlessing)
               if b.get_property("blessed") == 1}
    unblessed = [f"{name or 'model'} ({artifact.id})" for name, artifact in models if artifact.id not in blessed]
    if unblessed:
        return (f"no positive blessing recorded for {', '.join(unblessed)}: infer with a blessed model (a "
                "LatestBlessedModel resolver), wire model_blessing, or set require_blessing=False")
    return None


def _columns(component_id: str, spec: dict[str, Any]) -> dict[str, str]:
    columns: dict[str, str] = {}
    for entry in spec.get("output_columns_spec", []):
        if "predict_output" not in entry:
            raise PipelineDefinitionError(
                f"{component_id}: output_example_spec supports predict_output columns (classify_output and "
                f"regress_output need TF Serving's classify/regress APIs); got {sorted(entry)}"
            )
        for column in entry["predict_output"].get("output_columns", []):
            columns[column["output_key"]] = column["output_column"]
    return columns


def _tasks(ctx: ExecutorContext, examples: Artifact, splits: list[str], output_uri: str, plan: Plan) -> list[Task]:
    suffix = {"prediction_log": ".gz", "examples": ".gz", "parquet": ".parquet"}[plan.output_format]
    tasks = []
    for split in splits:
        files = examples_io.split_files(ctx.component_id, examples, split, "examples")
        for index, source in enumerate(files):
            shard = f"{index:05d}-of-{len(files):05d}"
            if plan.output_format == "prediction_log":
                name = f"{layout.PREDICTION_LOGS_PREFIX}-{split}-{shard}{suffix}"
                target = filesystem.join(output_uri, name)
            elif plan.output_format == "examples":
                target = filesystem.join(layout.split_dir(output_uri, split), f"{layout.INFERENCE_EXAMPLES_PREFIX}-{shard}{suffix}")
            else:
                target = filesystem.join(layout.split_dir(output_uri, split), f"{layout.INFERENCE_PARQUET_PREFIX}-{shard}{suffix}")
            tasks.append(Task(split, source, target, filesystem.join(ctx.temp_uri, "counts", f"{split}-{shard}")))
    return tasks


def _run_beam(ctx: ExecutorContext, tasks: list[Task], plan: Plan) -> None:
    import apache_beam as beam

    from penstock.beam.pipeline import make_pipeline, runs_in_one_process

    with make_pipeline(ctx.beam_pipeline_args) as pipeline:
        tasks_pc = pipeline | "Tasks" >> beam.Create(tasks)
        if not runs_in_one_process(ctx.beam_pipeline_args):
            tasks_pc = tasks_pc | "Spread" >> beam.Reshuffle()
        _ = tasks_pc | "Infer" >> beam.ParDo(InferFile(plan))


class _Models:
    """The loaded signatures, once per worker process."""

    def __init__(self, plan: Plan) -> None:
        import tensorflow as tf

        self.functions = []
        for model in plan.models:
            loaded = tf.saved_model.load(model.path, tags=plan.tags or None)
            if model.signature not in loaded.signatures:
                raise InputDataError(f"model {model.name or 'model'} ({model.path}) has no signature "
                                     f"{model.signature!r}; it has {sorted(loaded.signatures)}")
            function = loaded.signatures[model.signature]
            inputs = function.structured_input_signature[1]
            if len(inputs) != 1 or next(iter(inputs.values())).dtype != tf.string:
                raise InputDataError(f"signature {model.signature!r} of {model.path} must take one string tensor "
                                     f"of serialized tf.Examples; it takes {sorted(inputs)}")
            self.functions.append((model, loaded, function, next(iter(inputs))))

    def predict(self, serialized: Any) -> list[tuple[ModelPlan, dict[str, Any]]]:
        import numpy as np
        import tensorflow as tf

        batch = tf.constant(serialized)
        out = []
        for model, _, function, argument in self.functions:
            outputs = function(**{argument: batch})
            out.append((model, {k: np.asarray(v) for k, v in outputs.items()}))
        return out


def _make_infer_file() -> Any:
    import apache_beam as beam

    class _InferFile(beam.DoFn):
        def __init__(self, plan: Plan) -> None:
            self.plan = plan
            self.models: _Models | None = None

        def setup(self) -> None:
            _env.use_keras_2()
            _env.skip_autograph_for_libraries()
            self.models = _Models(self.plan)

        def process(self, task: Task) -> Any:
            assert self.models is not None
            rows = infer_file(task, self.plan, self.models)
            filesystem.write_text(task.count_uri, str(rows))
            yield task.split, rows

    return _InferFile


def InferFile(plan: Plan) -> Any:
    return _make_infer_file()(plan)


def infer_file(task: Task, plan: Plan, models: _Models) -> int:
    """Infer on every record of ``task.source``; write ``task.target``; the number of rows."""
    import numpy as np

    from penstock.codecs import tfrecords

    writer = _Writer(task.target, plan)
    rows = 0
    try:
        for spans in tfrecords.iter_record_spans(task.source):
            records = tfrecords.as_record_array(spans.records())
            for start in range(0, len(records), plan.batch_size):
                batch = records.slice(start, plan.batch_size)
                serialized = np.asarray(batch.to_numpy(zero_copy_only=False), dtype=object)
                writer.write(batch, models.predict(serialized))
                rows += len(batch)
    finally:
        writer.close()
    return rows


def _column(model: ModelPlan, key: str, columns: dict[str, str]) -> str:
    name = columns.get(key, key)
    return f"{model.name}_{name}" if model.name else name


class _Writer:
    """Writes one output shard in the plan's format."""

    def __init__(self, target: str, plan: Plan) -> None:
        self.plan = plan
        self.target = target
        self.logs: dict[str, Any] = {}
        self.parquet: Any = None
        self.examples: Any = None

    def write(self, batch: Any, predictions: list[tuple[ModelPlan, dict[str, Any]]]) -> None:
        if self.plan.output_format == "prediction_log":
            self._write_logs(batch, predictions)
        else:
            self._write_table(batch, predictions)

    def _write_logs(self, batch: Any, predictions: list[tuple[ModelPlan, dict[str, Any]]]) -> None:
        import tensorflow as tf

        from penstock.codecs import prediction_log, tfrecords

        for model, outputs in predictions:
            writer = self.logs.get(model.name)
            if writer is None:
                target = self.target if not model.name else filesystem.join(
                    filesystem.dirname(self.target), model.name, filesystem.basename(self.target))
                writer = self.logs[model.name] = tfrecords.GzipTFRecordWriter(target)
            unsupported = [k for k, v in outputs.items() if v.dtype.kind not in "fiub"]
            if unsupported:
                raise ExecutionError("BulkInferrer", f"signature {model.signature!r} returns non-numeric outputs "
                                     f"{unsupported}; use output_format='parquet' or 'examples' for them")
            spec = prediction_log.model_spec(model.name, model.signature)
            datatypes = {k: tf.as_dtype(v.dtype).as_datatype_enum for k, v in outputs.items()}
            writer.write(prediction_log.encode(batch, prediction_log.response_table(outputs, datatypes, spec), spec))

    def _write_table(self, batch: Any, predictions: list[tuple[ModelPlan, dict[str, Any]]]) -> None:
        import pyarrow as pa

        columns: dict[str, pa.Array] = {}
        carried = self._carried(batch)
        for name in carried.schema.names:
            columns[name] = carried.column(name)
        for model, outputs in predictions:
            for key, values in sorted(outputs.items()):
                columns[_column(model, key, self.plan.columns)] = _as_column(values, self.plan.output_format)
        table = pa.RecordBatch.from_pydict(columns)
        if self.plan.output_format == "parquet":
            import pyarrow.parquet as pq

            if self.parquet is None:
                self.parquet = pq.ParquetWriter(filesystem.open_output(self.target), table.schema)
            self.parquet.write_batch(table)
        else:
            from penstock.codecs import example_encoder, tfrecords

            if self.examples is None:
                self.examples = tfrecords.GzipTFRecordWriter(self.target)
            self.examples.write(example_encoder.encode(table))

    def _carried(self, batch: Any) -> Any:
        """The carried input features as Arrow columns (lists of values, as tf.Example holds them;
        Parquet gets plain values where every row has exactly one)."""
        import pyarrow as pa

        wanted = self.plan.carry
        if wanted is None and self.plan.output_format == "parquet":
            wanted = []
        if wanted == []:
            return pa.RecordBatch.from_pydict({})
        decoded = _decode(batch)
        names = decoded.schema.names if wanted is None else wanted
        missing = [n for n in names if n not in decoded.schema.names]
        if missing:
            raise InputDataError(f"carry_features {missing} are not in the examples (features: {decoded.schema.names})")
        columns = {n: decoded.column(n) for n in names}
        if self.plan.output_format == "parquet":
            columns = {n: _flatten_single(c) for n, c in columns.items()}
        return pa.RecordBatch.from_pydict(columns)

    def close(self) -> None:
        for writer in self.logs.values():
            writer.close()
        if self.parquet is not None:
            self.parquet.close()
        if self.examples is not None:
            self.examples.close()


def _decode(batch: Any) -> Any:
    """Serialized examples to an Arrow batch: penstock's column-wise decoder, tfx-bsl's otherwise."""
    import numpy as np

    from penstock.codecs import example_decoder

    buffers = batch.buffers()  # (validity, int64 offsets, data) of a large_binary array
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[batch.offset:batch.offset + len(batch) + 1]
    base = int(offsets[0])
    data = buffers[2].to_pybytes()[base:int(offsets[-1])]
    decoded = example_decoder.decode(data, offsets[:-1] - base, offsets[1:] - base)
    if decoded is None:
        from tfx_bsl.coders import example_coder

        decoded = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(batch.to_pylist())
    return decoded


def _flatten_single(column: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_large_list(column.type) or pa.types.is_list(column.type):
        lengths = pc.list_value_length(column)
        if column.null_count == 0 and pc.all(pc.equal(lengths, 1)).as_py():
            return pc.list_flatten(column)
    return column


def _as_column(values: Any, output_format: str) -> Any:
    """A prediction output as an Arrow column: one value per row when it has one, else a list;
    tf.Examples take lists of float32, int64 or bytes."""
    import numpy as np
    import pyarrow as pa

    rows = len(values)
    flat = values.reshape(rows, -1)
    if output_format == "examples":
        if flat.dtype.kind == "f":
            flat = flat.astype(np.float32)
        elif flat.dtype.kind in "iub":
            flat = flat.astype(np.int64)
        offsets = pa.array(np.arange(0, flat.size + 1, flat.shape[1], dtype=np.int64))
        return pa.LargeListArray.from_arrays(offsets, pa.array(flat.reshape(-1)))
    if flat.shape[1] == 1:
        return pa.array(flat[:, 0])
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])
