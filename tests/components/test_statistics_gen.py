"""StatisticsGen: TFDV statistics per split, for every feature, schema-aware when given a schema."""

from __future__ import annotations

import os

import pytest

from penstock.components.statistics_gen.component import StatisticsGen
from penstock.dsl.channel import Channel
from penstock.dsl.standard_artifacts import Examples
from penstock.errors import PipelineDefinitionError
from tests.components._data_fixtures import (
    as_dict,
    assert_same_statistics,
    features_of,
    load_statistics,
    penguin_schema,
    penguin_stats,
    run_component,
)

PENGUIN_FEATURES = {"species", "culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"}


def test_statistics_for_every_split_and_feature():
    made = penguin_stats("penguins.csv")
    statistics, examples = made["statistics"], made["examples"]
    assert statistics.split_names == ["train", "eval"]
    counts = as_dict(examples, "row_counts")
    assert as_dict(statistics, "num_examples") == counts
    for split in ("train", "eval"):
        stats = load_statistics(statistics, split)
        assert stats.datasets[0].num_examples == counts[split]
        features = features_of(stats)
        assert set(features) == PENGUIN_FEATURES
        body = features["body_mass_g"].num_stats
        assert 0.0 <= body.min < body.max <= 1.0


def test_missing_values_are_counted():
    stats = load_statistics(penguin_stats("penguins_raw.csv")["statistics"], "train")
    sex = features_of(stats)["sex"].string_stats.common_stats
    assert sex.num_missing > 0  # "NA" cells became missing features
    assert features_of(stats)["species"].string_stats.unique == 3


def test_schema_aware_statistics_and_excluded_splits(tmp_path):
    from tensorflow_metadata.proto.v0 import statistics_pb2

    examples = penguin_stats("penguins.csv")["examples"]
    schema = penguin_schema()
    gen = StatisticsGen(examples=Channel(Examples), exclude_splits=["eval"])
    # The Schema channel is optional; hand the artifact in directly as the runner would.
    statistics = run_component(gen, tmp_path, inputs={"examples": [examples], "schema": [schema]})["statistics"]
    assert statistics.split_names == ["train"]
    assert not os.path.exists(statistics.split_uri("eval"))
    species = features_of(load_statistics(statistics, "train"))["species"]
    assert species.type == statistics_pb2.FeatureNameStatistics.INT


def test_unknown_excluded_split_is_a_definition_error(tmp_path):
    examples = penguin_stats("penguins.csv")["examples"]
    gen = StatisticsGen(examples=Channel(Examples), exclude_splits=["test"])
    with pytest.raises(PipelineDefinitionError, match=r"exclude_splits names \['test'\].*\['train', 'eval'\]"):
        run_component(gen, tmp_path, inputs={"examples": [examples]})


@pytest.mark.parametrize("decoder", ["column-wise", "tfx-bsl"])
def test_in_process_statistics_match_beam(tmp_path, monkeypatch, decoder):
    """No runner chosen: statistics are computed in process, block by block (here blocks of 2 KB,
    so partial results are merged), with penstock's column-wise decoder or, for records it
    leaves alone, tfx-bsl's; they must be those the Beam pipeline computes."""
    from penstock.codecs import example_decoder
    from penstock.components.statistics_gen import decoding

    examples = penguin_stats("penguins_raw.csv")["examples"]
    monkeypatch.setattr(decoding, "BLOCK_BYTES", 2048)
    decoded = []
    real_decode = example_decoder.decode

    def decode(*spans):
        batch = real_decode(*spans) if decoder == "column-wise" else None
        decoded.append(batch is not None)
        return batch

    monkeypatch.setattr(example_decoder, "decode", decode)
    in_process = run_component(StatisticsGen(examples=Channel(Examples)), tmp_path / "fast",
                               inputs={"examples": [examples]})["statistics"]
    assert len(decoded) > 2 and all(decoded) == (decoder == "column-wise")
    with_beam = run_component(StatisticsGen(examples=Channel(Examples)), tmp_path / "beam",
                              inputs={"examples": [examples]}, beam_pipeline_args=["--runner=DirectRunner"])["statistics"]
    assert_same_statistics(in_process, with_beam)


def test_multi_processing_workers_decode_and_agree(tmp_path):
    """Beam's multi-processing workers import the decoding DoFn by name and must get the same
    statistics as the in-process engine."""
    examples = penguin_stats("penguins_raw.csv")["examples"]
    in_process = run_component(StatisticsGen(examples=Channel(Examples)), tmp_path / "fast",
                               inputs={"examples": [examples]})["statistics"]
    workers = run_component(StatisticsGen(examples=Channel(Examples)), tmp_path / "mp", inputs={"examples": [examples]},
                            beam_pipeline_args=["--direct_running_mode=multi_processing", "--direct_num_workers=2"])["statistics"]
    for split in ("train", "eval"):
        fast, mp = features_of(load_statistics(in_process, split)), features_of(load_statistics(workers, split))
        assert load_statistics(workers, split).datasets[0].num_examples == load_statistics(in_process, split).datasets[0].num_examples
        assert mp["body_mass_g"].num_stats.mean == pytest.approx(fast["body_mass_g"].num_stats.mean)
        assert mp["sex"].string_stats.common_stats.num_missing == fast["sex"].string_stats.common_stats.num_missing


def test_sample_rate_samples_records_reproducibly_on_any_engine(tmp_path):
    examples = penguin_stats("penguins_raw.csv")["examples"]
    counts = as_dict(examples, "row_counts")

    def sampled(where, rate, args=None):
        return run_component(StatisticsGen(examples=Channel(Examples), sample_rate=rate), tmp_path / where,
                             inputs={"examples": [examples]}, beam_pipeline_args=args)["statistics"]

    local, beam = sampled("local", 0.3), sampled("beam", 0.3, ["--runner=DirectRunner"])
    for split in ("train", "eval"):
        n = load_statistics(local, split).datasets[0].num_examples
        assert 0.1 * counts[split] < n < 0.6 * counts[split]  # records are sampled, not whole batches
        assert load_statistics(beam, split).datasets[0].num_examples == n  # the same sample on Beam
    with pytest.raises(PipelineDefinitionError, match=r"sample_rate must be in \(0, 1\], got 1.5"):
        sampled("bad", 1.5)
