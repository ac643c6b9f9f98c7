"""Helpers for the data-component tests: run an executor (penstock.testing), read what it wrote."""

from __future__ import annotations

import glob
import json
import os
import pathlib
from typing import Any

from penstock import testing
from penstock.dsl.artifact import Artifact
from penstock.dsl.component import Component

REPO = pathlib.Path(__file__).resolve().parents[2]
PENGUIN_DATA = REPO / "examples" / "penguin" / "data"
TAXI_DATA = REPO / "examples" / "taxi" / "data"


def run_component(
    component: Component,
    workdir: str | os.PathLike[str],
    inputs: dict[str, list[Artifact]] | None = None,
    beam_pipeline_args: list[str] | None = None,
) -> dict[str, Artifact]:
    """Run ``component``'s executor in-process, as the runner would; its outputs, LIVE."""
    return testing.run_executor(component, pipeline_root=str(workdir), inputs=inputs,
                                beam_pipeline_args=beam_pipeline_args)


def write(path: pathlib.Path, content: str | bytes) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def as_dict(artifact: Artifact, key: str) -> Any:
    import json

    return json.loads(artifact.custom_properties[key])


def read_examples(examples: Artifact, split: str) -> list[dict[str, Any]]:
    """Every tf.Example of a split as {feature: list of values} (missing features left out)."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(examples.split_uri(split), "*.gz")))
    assert files, f"no .gz files in {examples.split_uri(split)}"
    out = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        example = tf.train.Example.FromString(record)
        row = {}
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            if kind:
                values = list(getattr(feature, kind).value)
                if values:
                    row[name] = values
        out.append(row)
    return out


def canonical(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def load_statistics(statistics: Artifact, split: str) -> Any:
    import tensorflow_data_validation as tfdv

    return tfdv.load_stats_binary(os.path.join(statistics.split_uri(split), "FeatureStats.pb"))


def features_of(stats: Any) -> dict[str, Any]:
    return {f.path.step[0]: f for f in stats.datasets[0].features}


def assert_same_statistics(actual: Artifact, expected: Artifact, splits: tuple[str, ...] = ("train", "eval")) -> None:
    """The statistics two engines computed agree: counts, moments, ranges, uniques, missing."""
    import pytest

    for split in splits:
        got, want = load_statistics(actual, split), load_statistics(expected, split)
        assert got.datasets[0].num_examples == want.datasets[0].num_examples, split
        got_features, want_features = features_of(got), features_of(want)
        assert set(got_features) == set(want_features), split
        for name, feature in want_features.items():
            mine = got_features[name]
            if feature.HasField("num_stats"):
                assert mine.num_stats.mean == pytest.approx(feature.num_stats.mean), name
                assert mine.num_stats.std_dev == pytest.approx(feature.num_stats.std_dev), name
                assert (mine.num_stats.min, mine.num_stats.max) == (feature.num_stats.min, feature.num_stats.max), name
                assert mine.num_stats.common_stats.num_missing == feature.num_stats.common_stats.num_missing, name
            else:
                assert mine.string_stats.unique == feature.string_stats.unique, name
                assert mine.string_stats.common_stats.num_missing == feature.string_stats.common_stats.num_missing, name


_memo: dict[str, Any] = {}


def cached(key: str, build: Any) -> Any:
    """Build once per pytest process, so several test modules share one expensive result."""
    if key not in _memo:
        _memo[key] = build()
    return _memo[key]


def _scratch() -> pathlib.Path:
    import atexit
    import shutil
    import tempfile

    def make() -> pathlib.Path:
        path = pathlib.Path(tempfile.mkdtemp(prefix="penstock-data-tests-"))
        atexit.register(shutil.rmtree, path, True)
        return path

    return cached("scratch", make)


def penguin_stats(csv_name: str) -> dict[str, Artifact]:
    """CsvExampleGen + StatisticsGen on one penguins file (computed once per process)."""

    def build() -> dict[str, Artifact]:
        from penstock.components.example_gen import CsvExampleGen
        from penstock.components.statistics_gen.component import StatisticsGen

        workdir = _scratch() / csv_name
        gen = CsvExampleGen(input_base=str(PENGUIN_DATA), input_pattern=csv_name)
        examples = run_component(gen, workdir)["examples"]
        stats_gen = StatisticsGen(examples=gen.outputs["examples"])
        statistics = run_component(stats_gen, workdir, inputs={"examples": [examples]})["statistics"]
        return {"examples": examples, "statistics": statistics}

    return cached(f"penguin-stats-{csv_name}", build)


def penguin_schema() -> Artifact:
    """The schema SchemaGen infers from the clean penguins.csv (computed once per process)."""

    def build() -> Artifact:
        from penstock.components.schema_gen.component import SchemaGen
        from penstock.dsl.channel import Channel
        from penstock.dsl.standard_artifacts import ExampleStatistics

        clean = penguin_stats("penguins.csv")
        gen = SchemaGen(statistics=Channel(ExampleStatistics))
        return run_component(gen, _scratch() / "schema", inputs={"statistics": [clean["statistics"]]})["schema"]

    return cached("penguin-schema", build)
