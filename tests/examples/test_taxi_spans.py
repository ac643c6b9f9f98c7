"""The taxi example's span mode: the sample cut into spans by time, and the pipeline retraining on
the newest span from the latest blessed model (its Trainer's base_model is the resolver's model)."""

from __future__ import annotations

import csv

from examples.taxi.make_spans import SOURCE, make_spans
from examples.taxi.pipeline import SPAN_CHANGES, create_pipeline


def _rows(path: str) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_spans_partition_the_sample_in_time_order(tmp_path):
    paths = make_spans(str(tmp_path), 2)
    header, *everything = _rows(SOURCE)
    spans = [_rows(p) for p in paths]
    assert all(s[0] == header for s in spans)
    assert sorted(map(tuple, spans[0][1:] + spans[1][1:])) == sorted(map(tuple, everything))
    column = header.index("trip_start_timestamp")
    assert max(int(r[column] or 0) for r in spans[0][1:]) <= min(int(r[column] or 0) for r in spans[1][1:])


def test_span_mode_warm_starts_the_trainer_from_the_latest_blessed_model(tmp_path):
    pipeline = create_pipeline(data_root=str(tmp_path), input_pattern="span-{SPAN}/taxi.csv", warm_start=True,
                               accept_changes=SPAN_CHANGES, pipeline_root=str(tmp_path / "root"),
                               metadata=str(tmp_path / "m.sqlite"), serving_dir=str(tmp_path / "serving"))
    nodes = {n.id: n for n in pipeline.order}
    trainer, resolver = nodes["Trainer"], nodes["latest_blessed_model"]
    assert trainer.inputs["base_model"] is resolver.outputs["model"]
    assert trainer.parameters["custom_config"] == {"fixed_widths": True}
    assert nodes["CsvExampleGen"].parameters["input_pattern"] == "span-{SPAN}/taxi.csv"
    plain = {n.id: n for n in create_pipeline(pipeline_root=str(tmp_path / "r2"), metadata=str(tmp_path / "m2.sqlite"),
                                              serving_dir=str(tmp_path / "s2")).order}
    assert "base_model" not in plain["Trainer"].inputs and plain["Trainer"].parameters["custom_config"] == {}
