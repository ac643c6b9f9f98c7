"""Test inputs in TFX's on-disk layout, written without ExampleGen.

Component tests need Examples (``<uri>/Split-train/data.gz``, ``<uri>/Split-eval/data.gz``, gzip
TFRecords of tf.Example) and a Schema (``<uri>/schema.pbtxt``). Writing them here keeps
Transform/Trainer tests independent of ExampleGen. Values follow CsvExampleGen's typing: a column
whose present values are all integers is INT even when some are missing (pandas reads it as float),
floats are FLOAT, anything else BYTES; a missing cell leaves the feature out of that example.

``make_context`` builds an ExecutorContext by hand, with fresh staging directories for outputs.
``cached_dir`` memoizes expensive artifacts for the whole pytest process (shared across modules).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PENGUIN_CSV = os.path.join(REPO, "examples", "penguin", "data", "penguins.csv")
TAXI_CSV = os.path.join(REPO, "examples", "taxi", "data", "taxi.csv")

_session_dir: str | None = None
_memo: dict[str, Any] = {}


def session_dir() -> str:
    """A scratch directory living as long as the pytest process."""
    global _session_dir
    if _session_dir is None:
        _session_dir = tempfile.mkdtemp(prefix="penstock-test-")
        atexit.register(shutil.rmtree, _session_dir, True)
    return _session_dir


def cached(key: str, build: Callable[[], Any]) -> Any:
    """Build once per process: fixtures in several test modules share one expensive result."""
    if key not in _memo:
        _memo[key] = build()
    return _memo[key]


def _kind(values: list[str]) -> str:
    present = [v for v in values if v != ""]

    def all_parse(cast: Callable[[str], Any]) -> bool:
        try:
            for v in present:
                cast(v)
        except ValueError:
            return False
        return True

    if present and all_parse(int):
        return "int"
    if present and all_parse(float):
        return "float"
    return "bytes"


def read_csv(path: str, limit: int | None = None) -> tuple[list[str], list[list[str]], dict[str, str]]:
    """(column names, rows of cell text, kind per column); an empty cell is a missing value."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [row for _, row in zip(range(limit) if limit else iter(int, 1), reader)]
    kinds = {name: _kind([r[i] for r in rows]) for i, name in enumerate(header)}
    return header, rows, kinds


def to_tf_examples(header: list[str], rows: list[list[str]], kinds: dict[str, str]) -> list[bytes]:
    import tensorflow as tf

    serialized = []
    for row in rows:
        feature = {}
        for name, value in zip(header, row):
            if value == "":
                continue
            kind = kinds[name]
            if kind == "int":
                feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
            elif kind == "float":
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
            else:
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        serialized.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return serialized


def write_examples(
    csv_path: str, out_dir: str, *, limit: int | None = None, eval_every: int = 3
) -> tuple[Any, Any]:
    """Write ``csv_path`` as an Examples artifact (row i goes to eval when i % eval_every == 0)
    and its inferred Schema; return (Examples, Schema) artifacts, LIVE."""
    import tensorflow as tf
    import tensorflow_data_validation as tfdv

    from penstock.dsl.artifact import ArtifactState
    from penstock.dsl.standard_artifacts import Examples, Schema

    header, rows, kinds = read_csv(csv_path, limit)
    records = to_tf_examples(header, rows, kinds)
    splits = {
        "train": [r for i, r in enumerate(records) if i % eval_every != 0],
        "eval": [r for i, r in enumerate(records) if i % eval_every == 0],
    }
    examples = Examples(os.path.join(out_dir, "examples"), state=ArtifactState.LIVE)
    for split, rows in splits.items():
        os.makedirs(examples.split_uri(split), exist_ok=True)
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(os.path.join(examples.split_uri(split), "data.gz"), options) as w:
            for r in rows:
                w.write(r)
    examples.split_names = list(splits)
    examples.set_property("span", 0)

    # Statistics of the written records, as StatisticsGen would compute them.
    from tensorflow_data_validation.statistics import stats_impl
    from tfx_bsl.coders import example_coder

    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(splits["train"])
    stats = stats_impl.generate_statistics_in_memory(batch)
    schema_proto = tfdv.infer_schema(stats)
    schema = Schema(os.path.join(out_dir, "schema"), state=ArtifactState.LIVE)
    os.makedirs(schema.uri, exist_ok=True)
    tfdv.write_schema_text(schema_proto, os.path.join(schema.uri, "schema.pbtxt"))
    return examples, schema


PENGUIN_UTILS = os.path.join(REPO, "examples", "penguin", "penguin_utils.py")
TAXI_UTILS = os.path.join(REPO, "examples", "taxi", "taxi_utils.py")


def transform_component(**params: Any) -> Any:
    """A Transform as a pipeline would declare it (every default from its spec)."""
    from penstock.components.transform import Transform
    from penstock.dsl.channel import Channel
    from penstock.dsl.standard_artifacts import Examples, Schema, TransformCache

    return Transform(examples=Channel(Examples), schema=Channel(Schema),
                     analyzer_cache=Channel(TransformCache), **params)


def trainer_component(**params: Any) -> Any:
    from penstock.components.trainer import Trainer
    from penstock.dsl.channel import Channel
    from penstock.dsl.standard_artifacts import Examples

    return Trainer(examples=Channel(Examples), **params)


def run_transform(examples: Any, schema: Any, root: str, cache: Any = None, **params: Any) -> Any:
    """Run the Transform executor; returns the context (outputs LIVE)."""
    from penstock import testing

    inputs = {"examples": [examples], "schema": [schema]}
    if cache is not None:
        inputs["analyzer_cache"] = [cache]
    return _run(testing, transform_component(**params), inputs, root)


def run_trainer(inputs: dict[str, list[Any]], root: str, **params: Any) -> Any:
    from penstock import testing

    return _run(testing, trainer_component(**params), inputs, root)


def _run(testing: Any, component: Any, inputs: dict[str, list[Any]], root: str) -> Any:
    from penstock.dsl.artifact import ArtifactState

    ctx = testing.build_executor_context(component, pipeline_root=root, inputs=inputs)
    component.executor_fn()(ctx)
    for artifact in ctx.outputs.values():
        artifact.state = ArtifactState.LIVE
    return ctx


def penguin_inputs() -> tuple[Any, Any]:
    return cached("penguin_inputs", lambda: write_examples(PENGUIN_CSV, os.path.join(session_dir(), "penguin")))  # type: ignore[no-any-return]


def penguin_transform() -> Any:
    def build() -> Any:
        examples, schema = penguin_inputs()
        return run_transform(examples, schema, os.path.join(session_dir(), "penguin-transform"),
                             module_file=PENGUIN_UTILS, compute_statistics=True)
    return cached("penguin_transform", build)


def penguin_trainer() -> Any:
    def build() -> Any:
        ctx = penguin_transform()
        inputs = {"examples": [ctx.outputs["transformed_examples"]],
                  "transform_graph": [ctx.outputs["transform_graph"]]}
        return run_trainer(inputs, os.path.join(session_dir(), "penguin-trainer"), module_file=PENGUIN_UTILS,
                           train_args={"num_steps": 200}, eval_args={"num_steps": 10})
    return cached("penguin_trainer", build)


def read_records(pattern: str) -> list[bytes]:
    import glob

    import tensorflow as tf

    files = sorted(glob.glob(pattern))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


TAXI_ROWS = 3000


def taxi_inputs() -> tuple[Any, Any]:
    return cached("taxi_inputs", lambda: write_examples(  # type: ignore[no-any-return]
        TAXI_CSV, os.path.join(session_dir(), "taxi"), limit=TAXI_ROWS))


def taxi_trainer() -> Any:
    """(transform context, trainer context) of the taxi example."""
    def build() -> Any:
        examples, schema = taxi_inputs()
        transform = run_transform(examples, schema, os.path.join(session_dir(), "taxi-transform"),
                                  module_file=TAXI_UTILS)
        inputs = {"examples": [transform.outputs["transformed_examples"]],
                  "transform_graph": [transform.outputs["transform_graph"]]}
        trainer = run_trainer(inputs, os.path.join(session_dir(), "taxi-trainer"), module_file=TAXI_UTILS,
                              train_args={"num_steps": 200}, eval_args={"num_steps": 5})
        return transform, trainer
    return cached("taxi_trainer", build)
