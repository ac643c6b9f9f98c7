"""ExampleGen: TFX layout, deterministic splits, spans, type inference and clear bad-input errors."""

from __future__ import annotations

import collections
import glob
import itertools
import os
import pathlib
import shutil

import pytest

from penstock.components.example_gen import CsvExampleGen, ImportExampleGen, ParquetExampleGen
from penstock.errors import InputDataError, PipelineDefinitionError
from tests.components._data_fixtures import (
    PENGUIN_DATA,
    TAXI_DATA,
    as_dict,
    canonical,
    read_examples,
    run_component,
    write,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("example_gen")


@pytest.fixture(scope="module")
def taxi_examples(workdir):
    gen = CsvExampleGen(input_base=str(TAXI_DATA), input_pattern="taxi.csv")
    return run_component(gen, workdir / "taxi")["examples"]


@pytest.fixture(scope="module")
def penguin_examples(workdir):
    gen = CsvExampleGen(input_base=str(PENGUIN_DATA), input_pattern="penguins.csv")
    return run_component(gen, workdir / "penguins-1")["examples"]


# -- layout, counts, types ---------------------------------------------------------------------


def test_taxi_examples_in_tfx_layout_with_row_counts(taxi_examples):
    assert taxi_examples.split_names == ["train", "eval"]
    for split in ("train", "eval"):
        assert glob.glob(os.path.join(taxi_examples.uri, f"Split-{split}", "data_tfrecord-*.gz"))
    counts = as_dict(taxi_examples, "row_counts")
    # 2:1 hash buckets. Pinned: a change of split assignment between releases would silently
    # move rows between train and eval for users re-running on the same data.
    assert counts == {"train": 10025, "eval": 4977}
    assert taxi_examples.get_property("span") == 0


def test_taxi_types_inferred_and_missing_values_left_out(taxi_examples):
    rows = read_examples(taxi_examples, "eval")
    assert len(rows) == as_dict(taxi_examples, "row_counts")["eval"]
    types = as_dict(taxi_examples, "column_types")
    assert types["fare"] == "float"
    assert types["trip_start_hour"] == "int"
    assert types["pickup_community_area"] == "int"  # ints with empty cells stay ints
    assert types["payment_type"] == "string"
    assert any("pickup_community_area" not in r for r in rows)  # empty cell: missing feature
    with_area = [r for r in rows if "pickup_community_area" in r]
    assert with_area and all(isinstance(r["pickup_community_area"][0], int) for r in with_area)
    assert all(isinstance(r["payment_type"][0], bytes) for r in rows if "payment_type" in r)


def test_na_values_become_missing_and_types_are_inferred(workdir):
    data = workdir / "na-input"
    write(data / "d.csv", "a,b,c,d\n1,2.5,x,\nNA,3,y,\n3,,NA,\n")
    examples = run_component(CsvExampleGen(input_base=str(data), output_splits={"all": 1}), workdir / "na")["examples"]
    assert as_dict(examples, "column_types") == {"a": "int", "b": "float", "c": "string", "d": "string"}
    rows = sorted(read_examples(examples, "all"), key=lambda r: r.get("b", [0])[0])
    assert rows == [{"a": [3]}, {"a": [1], "b": [2.5], "c": [b"x"]}, {"b": [3.0], "c": [b"y"]}]


@pytest.mark.parametrize(
    "late, kinds, expected",
    [
        ("7,2.5,z", {"a": "int", "b": "float", "c": "string"}, [2.5]),  # int column turns float
        ("7,8,z", {"a": "int", "b": "int", "c": "string"}, [8]),  # empty column turns int
    ],
)
def test_types_that_change_after_the_first_batch_restart_the_conversion(workdir, monkeypatch, caplog, late, kinds, expected):
    """The default engine converts while it checks, with the first batch's types; a type that
    widens later makes it discard that output and convert again in a second read."""
    from penstock.components.example_gen import csv_reader

    monkeypatch.setattr(csv_reader, "_BLOCK_SIZE", 64)  # a batch per few rows
    first_b = "3" if expected == [2.5] else ""
    data = workdir / f"widen-input-{expected[0]}"
    write(data / "d.csv", "a,b,c\n" + f"1,{first_b},x\n" * 40 + late + "\n")
    with caplog.at_level("INFO"):
        examples = run_component(CsvExampleGen(input_base=str(data), output_splits={"all": 1}), workdir / f"widen-{expected[0]}")["examples"]
    assert "converting in a second read" in caplog.text
    assert as_dict(examples, "column_types") == kinds
    assert as_dict(examples, "row_counts") == {"all": 41}
    assert os.listdir(examples.split_uri("all")) == ["data_tfrecord-00000-of-00001.gz"]
    rows = read_examples(examples, "all")
    assert len(rows) == 41 and [r["b"] for r in rows if r["a"] == [7]] == [expected]
    if expected == [2.5]:
        assert all(isinstance(r["b"][0], float) for r in rows)  # early ints written as floats too


def test_column_types_and_schema_file_override_inference(workdir):
    data = workdir / "override-input"
    write(data / "d.csv", "zip,score\n01234,1\n56789,2\n")
    schema = write(
        workdir / "override-schema.pbtxt", 'feature { name: "score" type: FLOAT }\nfeature { name: "zip" type: INT }\n'
    )
    gen = CsvExampleGen(
        input_base=str(data), output_splits={"all": 1}, column_types={"zip": "string"}, schema_file=str(schema)
    )
    examples = run_component(gen, workdir / "override")["examples"]
    assert as_dict(examples, "column_types") == {"zip": "string", "score": "float"}
    rows = read_examples(examples, "all")
    assert sorted(r["zip"][0] for r in rows) == [b"01234", b"56789"]
    assert sorted(r["score"][0] for r in rows) == [1.0, 2.0]


# -- splits -----------------------------------------------------------------------------------


def test_splits_are_deterministic(workdir, penguin_examples):
    again = run_component(
        CsvExampleGen(input_base=str(PENGUIN_DATA), input_pattern="penguins.csv"), workdir / "penguins-2"
    )["examples"]
    for split in ("train", "eval"):
        assert canonical(read_examples(penguin_examples, split)) == canonical(read_examples(again, split))
    assert as_dict(again, "row_counts") == as_dict(penguin_examples, "row_counts")
    assert sum(as_dict(again, "row_counts").values()) == 334


def test_multi_processing_runner_gives_the_same_splits(workdir, penguin_examples, monkeypatch):
    """Workers read the file in byte ranges (here ~2 KB, so several per file) and must write
    exactly the examples of the in-process engine."""
    from penstock.components.example_gen import conversion, executor

    monkeypatch.setattr(executor, "_READ_TASK_BYTES", 2048)
    assert len(conversion.plan_reads("csv", [("", str(PENGUIN_DATA / "penguins.csv"))], 2048)) > 3
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    other = run_component(
        CsvExampleGen(input_base=str(PENGUIN_DATA), input_pattern="penguins.csv"), workdir / "penguins-mp", beam_pipeline_args=args
    )["examples"]
    assert as_dict(other, "row_counts") == as_dict(penguin_examples, "row_counts")
    for split in ("train", "eval"):
        assert canonical(read_examples(other, split)) == canonical(read_examples(penguin_examples, split))


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
@pytest.mark.parametrize("trailing", [True, False])
def test_csv_read_tasks_cover_the_data_lines_exactly(tmp_path, ending, trailing):
    from penstock.components.example_gen import csv_reader

    lines = [b"a,b"] + [b"%d,%s" % (i, b"x" * (i % 17)) for i in range(300)]
    content = ending.join(lines) + (ending if trailing else b"")
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    ranges = csv_reader.data_ranges(str(path), 256)
    assert len(ranges) > 5
    assert ranges[0][0] == len(lines[0]) + len(ending) and ranges[-1][1] == len(content)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(content[start - 1 : start] == b"\n" for start, _ in ranges)  # each starts a line
    options = csv_reader.CsvOptions()
    read = [row for r in ranges for batch in csv_reader.iter_text_batches(str(path), ["a", "b"], options, byte_range=r)
            for row in batch.to_pylist()]
    whole = [row for batch in csv_reader.iter_text_batches(str(path), ["a", "b"], options) for row in batch.to_pylist()]
    assert read == whole and len(read) == 300


def test_parquet_read_tasks_are_row_group_ranges(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from penstock.components.example_gen import conversion

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": list(range(1000))}), path, row_group_size=100)
    tasks = conversion.plan_reads("parquet", [("", str(path))], 1)
    assert [t.part for t in tasks] == [(i, i + 1) for i in range(10)]
    xs = [x for t in tasks for b in conversion.iter_batches("parquet", t, None) for x in b.column(0).to_pylist()]
    assert xs == list(range(1000))
    assert [t.part for t in conversion.plan_reads("parquet", [("", str(path))], None)] == [None]


@pytest.mark.parametrize("variant", ["hash", "split_key", "split_column", "parquet"])
def test_in_process_engine_and_beam_write_the_same_examples(workdir, variant):
    """No runner chosen: ExampleGen converts without Beam. --runner=DirectRunner: with Beam.
    Both must give every split the same examples."""
    data = workdir / f"engines-{variant}"
    if variant == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        data.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"x": list(range(500)), "f": [i / 7 if i % 9 else None for i in range(500)],
                                 "s": [f"v{i % 13}" for i in range(500)]}), data / "d.parquet")

        def make():
            return ParquetExampleGen(input_base=str(data))
    else:
        shutil.copytree(PENGUIN_DATA, data, dirs_exist_ok=True)
        if variant == "split_column":
            lines = (data / "penguins.csv").read_text().splitlines()
            folds = [lines[0] + ",fold"] + [f"{line},{'eval' if i % 4 == 0 else 'train'}" for i, line in enumerate(lines[1:])]
            (data / "penguins.csv").write_text("\n".join(folds) + "\n")
        options = {"split_key": "species"} if variant == "split_key" else {"split_column": "fold"} if variant == "split_column" else {}

        def make():
            return CsvExampleGen(input_base=str(data), input_pattern="penguins.csv", **options)

    local = run_component(make(), workdir / f"engines-{variant}-local")["examples"]
    beam = run_component(make(), workdir / f"engines-{variant}-beam", beam_pipeline_args=["--runner=DirectRunner"])["examples"]
    assert local.split_names == beam.split_names
    assert as_dict(local, "row_counts") == as_dict(beam, "row_counts")
    assert all(as_dict(local, "row_counts").values())
    for split in local.split_names:
        assert canonical(read_examples(local, split)) == canonical(read_examples(beam, split))


def test_configurable_buckets_and_split_key(workdir):
    gen = CsvExampleGen(
        input_base=str(PENGUIN_DATA), input_pattern="penguins.csv", output_splits={"a": 1, "b": 1, "c": 1}, split_key="species"
    )
    examples = run_component(gen, workdir / "keyed")["examples"]
    assert examples.split_names == ["a", "b", "c"]
    species_per_split = {s: {r["species"][0] for r in read_examples(examples, s)} for s in ("a", "b", "c")}
    seen: collections.Counter = collections.Counter()
    for values in species_per_split.values():
        seen.update(values)
    assert all(n == 1 for n in seen.values()), species_per_split  # a key never straddles splits
    assert sum(as_dict(examples, "row_counts").values()) == 334


def test_split_column_names_the_split_and_is_dropped(workdir):
    data = workdir / "splitcol-input"
    write(data / "d.csv", "x,fold\n1,train\n2,train\n3,test\n4,train\n")
    examples = run_component(CsvExampleGen(input_base=str(data), split_column="fold"), workdir / "splitcol")["examples"]
    assert examples.split_names == ["test", "train"]
    assert as_dict(examples, "row_counts") == {"test": 1, "train": 3}
    assert read_examples(examples, "test") == [{"x": [3]}]


def test_pre_split_input_folders(workdir):
    data = workdir / "presplit-input"
    write(data / "train" / "part1.csv", "x\n1\n2\n")
    write(data / "train" / "part2.csv", "x\n3\n")
    write(data / "eval" / "part1.csv", "x\n4\n")
    gen = CsvExampleGen(input_base=str(data), input_splits={"train": "train/*.csv", "eval": "eval/*.csv"})
    examples = run_component(gen, workdir / "presplit")["examples"]
    assert examples.split_names == ["train", "eval"]
    assert as_dict(examples, "row_counts") == {"train": 3, "eval": 1}
    assert sorted(r["x"][0] for r in read_examples(examples, "train")) == [1, 2, 3]


# -- spans and versions -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def span_input(workdir) -> pathlib.Path:
    data = workdir / "spans-input"
    write(data / "span-1" / "v1" / "d.csv", "x\n1\n")
    write(data / "span-2" / "v1" / "d.csv", "x\n21\n")
    write(data / "span-2" / "v2" / "d.csv", "x\n22\n22\n")
    write(data / "span-3" / "v1" / "d.csv", "x\n3\n3\n3\n")
    return data


def _xs(examples) -> list[int]:
    return sorted(r["x"][0] for s in examples.split_names for r in read_examples(examples, s))


def test_latest_span_and_version_by_default(workdir, span_input):
    gen = CsvExampleGen(input_base=str(span_input), input_pattern="span-{SPAN}/v{VERSION}/*.csv", output_splits={"all": 1})
    examples = run_component(gen, workdir / "span-latest")["examples"]
    assert (examples.get_property("span"), examples.get_property("version")) == (3, 1)
    assert _xs(examples) == [3, 3, 3]


def test_chosen_span_takes_its_latest_version(workdir, span_input):
    gen = CsvExampleGen(
        input_base=str(span_input), input_pattern="span-{SPAN}/v{VERSION}/*.csv", output_splits={"all": 1}, span=2
    )
    examples = run_component(gen, workdir / "span-2")["examples"]
    assert (examples.get_property("span"), examples.get_property("version")) == (2, 2)
    assert _xs(examples) == [22, 22]


def test_span_range_reads_all_spans_in_it(workdir, span_input):
    gen = CsvExampleGen(input_base=str(span_input), input_pattern="span-{SPAN}/v1/*.csv", output_splits={"all": 1}, span_range=[1, 2])
    examples = run_component(gen, workdir / "span-range")["examples"]
    assert examples.get_property("span") == 2
    assert as_dict(examples, "spans") == [1, 2]
    assert _xs(examples) == [1, 21]


def test_date_placeholders_give_day_spans(workdir):
    data = workdir / "dates-input"
    write(data / "2024-01-01" / "d.csv", "x\n1\n")
    write(data / "2024-01-02" / "d.csv", "x\n2\n")
    gen = CsvExampleGen(input_base=str(data), input_pattern="{YYYY}-{MM}-{DD}/*.csv", output_splits={"all": 1})
    examples = run_component(gen, workdir / "dates")["examples"]
    assert examples.get_property("span") == 19724  # days from 1970-01-01 to 2024-01-02
    assert _xs(examples) == [2]


def test_missing_span_is_reported(workdir, span_input):
    gen = CsvExampleGen(input_base=str(span_input), input_pattern="span-{SPAN}/v1/*.csv", span=7)
    with pytest.raises(InputDataError, match=r"span 7 not found.*available spans: \[1, 2, 3\]"):
        run_component(gen, workdir / "span-missing")


def test_new_or_rewritten_input_files_are_read_again_not_taken_from_the_cache(tmp_path):
    """The cache key holds the chosen span and the input files' fingerprint: the same parameters
    over new data must not reuse the earlier examples (as TFX's input fingerprint)."""
    from penstock.dsl.pipeline import Pipeline
    from penstock.orchestrators.local.runner import LocalRunner

    data = tmp_path / "in"
    write(data / "span-1" / "d.csv", "x\n1\n")

    def run():
        gen = CsvExampleGen(input_base=str(data), input_pattern="span-{SPAN}/*.csv", output_splits={"all": 1})
        pipeline = Pipeline("fingerprint", [gen], pipeline_root=str(tmp_path / "root"), metadata=str(tmp_path / "m.sqlite"))
        result = LocalRunner().run(pipeline)
        assert result.succeeded, result.errors
        return result.outcomes["CsvExampleGen"], result.outputs["CsvExampleGen"]["examples"]

    first, examples = run()
    assert first.state == "COMPLETE" and _xs(examples) == [1]
    again, _ = run()
    assert again.state == "CACHED"  # nothing changed
    write(data / "span-1" / "d.csv", "x\n1\n5\n")  # the span rewritten in place
    rewritten, examples = run()
    assert rewritten.state == "COMPLETE" and _xs(examples) == [1, 5]
    assert "input data files: 1 file(s), 4 bytes" in rewritten.cache_decision
    write(data / "span-2" / "d.csv", "x\n2\n")  # a new span: the latest is read
    new_span, examples = run()
    assert new_span.state == "COMPLETE" and _xs(examples) == [2] and examples.get_property("span") == 2
    assert "input data span: 1 -> 2" in new_span.cache_decision
    shutil.rmtree(data)  # a failed resolution fails the component with the executor's message
    gone = LocalRunner().run(Pipeline("fingerprint", [CsvExampleGen(input_base=str(data))],
                                      pipeline_root=str(tmp_path / "root"), metadata=str(tmp_path / "m.sqlite")))
    assert not gone.succeeded and "does not exist" in gone.errors["CsvExampleGen"]


def test_a_schema_file_fixing_column_types_is_part_of_the_input_fingerprint(tmp_path):
    write(tmp_path / "in" / "d.csv", "x\n1\n")
    schema = write(tmp_path / "schema.pbtxt", 'feature { name: "x" type: INT }\n')
    gen = CsvExampleGen(input_base=str(tmp_path / "in"), schema_file=str(schema))
    before = gen.external_inputs()
    write(schema, 'feature { name: "x" type: FLOAT }\n')
    after = gen.external_inputs()
    assert before["files"] == after["files"] and before["schema_file"] != after["schema_file"]


# -- other formats ------------------------------------------------------------------------------


def test_parquet_example_gen(workdir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"n": pa.array([1, None, 3], pa.int32()), "f": [0.5, 1.5, None], "s": ["a", "b", None], "flag": [True, False, True]})
    data = workdir / "parquet-input"
    data.mkdir()
    pq.write_table(table, data / "d.parquet")
    examples = run_component(ParquetExampleGen(input_base=str(data), output_splits={"all": 1}), workdir / "parquet")["examples"]
    rows = sorted(read_examples(examples, "all"), key=lambda r: r["flag"][0] * 10 + r.get("n", [0])[0])
    assert rows == [{"f": [1.5], "s": [b"b"], "flag": [0]}, {"n": [1], "f": [0.5], "s": [b"a"], "flag": [1]}, {"n": [3], "flag": [1]}]


def test_import_example_gen_resplits_tfrecords(workdir, penguin_examples):
    data = workdir / "import-input"
    data.mkdir()
    for i, path in enumerate(glob.glob(os.path.join(penguin_examples.uri, "Split-*", "*.gz"))):
        shutil.copy(path, data / f"part{i}.gz")
    examples = run_component(ImportExampleGen(input_base=str(data)), workdir / "import")["examples"]
    assert sum(as_dict(examples, "row_counts").values()) == 334
    every = read_examples(examples, "train") + read_examples(examples, "eval")
    original = read_examples(penguin_examples, "train") + read_examples(penguin_examples, "eval")
    assert canonical(every) == canonical(original)


def test_import_rejects_files_that_are_not_tfrecords(workdir):
    data = workdir / "import-bad"
    write(data / "x.gz", "species,a\n1,2\n")
    with pytest.raises(InputDataError, match=r"x\.gz: not a valid TFRecord file"):
        run_component(ImportExampleGen(input_base=str(data)), workdir / "import-bad-out")


# -- bad input: every one a clear InputDataError naming file and line ---------------------------------

BAD_CSVS = {
    "wrong_field_count": (b"a,b\n1,2\n3,4,5\n6,7\n", r"bad\.csv, line 3: expected 2 fields .* found 3"),
    "unterminated_quote_at_end": (b'a,b\n1,2\n3,"4\n5,6\n', r"bad\.csv, line 3: .*(unterminated|quote)"),
    "unterminated_quote_mid_file": (b'a,b\n1,"2\n' + b"3,4\n" * 300000, r"bad\.csv, line 2: .*(unterminated|quote)"),
    "empty_file": (b"", r"bad\.csv: the file is empty"),
    "header_only": (b"a,b\n", r"bad\.csv: the file has a header but no data rows"),
    "type_change_mid_file": (b"a,b\n1,2\n3,4\n5,oops\n", r"bad\.csv, line 4: column 'b' changes type.*'oops'"),
    "float_turns_text": (b"a,b\n1,2\n3,0.5\n5,abc\n", r"bad\.csv, line 4: column 'b' changes type.*here holds 'abc'"),
    "non_utf8": (b"a,b\n1,caf\xe9\n2,x\n", r"bad\.csv, line 2: bytes .* not valid UTF-8"),
    "duplicate_header": (b"a,a\n1,2\n", r"bad\.csv, line 1: duplicate column names"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSVS))
def test_bad_csv_raises_input_data_error_naming_file_and_line(workdir, case):
    content, message = BAD_CSVS[case]
    data = workdir / f"bad-{case}"
    write(data / "bad.csv", content)
    with pytest.raises(InputDataError, match=message):
        run_component(CsvExampleGen(input_base=str(data)), workdir / f"bad-{case}-out")


def test_type_change_far_into_a_big_file_names_the_line(workdir):
    data = workdir / "bad-late-type"
    write(data / "bad.csv", b"a,b\n" + b"1,2\n" * 200000 + b"1,two\n")
    with pytest.raises(InputDataError, match=r"line 200002: column 'b' changes type"):
        run_component(CsvExampleGen(input_base=str(data)), workdir / "bad-late-type-out")


def test_a_value_longer_than_the_read_block_is_read(workdir):
    data = workdir / "long-value"
    long_text = "x" * (10 << 20)  # over two of pyarrow's 4 MiB blocks, and the csv module's 128 KiB field limit
    write(data / "d.csv", f'a,b\n1,short\n2,"{long_text}"\n3,end\n')
    examples = run_component(CsvExampleGen(input_base=str(data), output_splits={"all": 1}), workdir / "long-value-out")["examples"]
    assert as_dict(examples, "row_counts") == {"all": 3}
    values = sorted(len(e["b"][0]) for e in read_examples(examples, "all"))
    assert values == [3, 5, 10 << 20]


def test_declared_type_violation_names_the_line(workdir):
    data = workdir / "bad-declared"
    write(data / "bad.csv", "a,b\n1,7\n2,3.5\n")
    with pytest.raises(InputDataError, match=r"line 3: column 'b' is declared int but holds '3.5'"):
        run_component(CsvExampleGen(input_base=str(data), column_types={"b": "int"}), workdir / "bad-declared-out")


def test_lenient_parsing_skips_and_counts_bad_rows(workdir):
    data = workdir / "lenient-input"
    write(data / "d.csv", "a,b\n1,2\n3,4,5\n6,7\n8\n")
    gen = CsvExampleGen(input_base=str(data), bad_rows="skip", output_splits={"all": 1})
    examples = run_component(gen, workdir / "lenient")["examples"]
    assert as_dict(examples, "row_counts") == {"all": 2}
    assert as_dict(examples, "bad_rows") == {"count": 2, "samples": ["3,4,5", "8"]}


def test_missing_folder_and_unmatched_pattern(workdir):
    with pytest.raises(InputDataError, match=r"input folder '.*no-such-dir' does not exist"):
        run_component(CsvExampleGen(input_base=str(workdir / "no-such-dir")), workdir / "missing-out")
    with pytest.raises(InputDataError, match=r"input pattern 'nothing-\*.csv' matches no file under .*penguins\.csv"):
        run_component(CsvExampleGen(input_base=str(PENGUIN_DATA), input_pattern="nothing-*.csv"), workdir / "nomatch-out")


def test_headers_must_agree_across_files(workdir):
    data = workdir / "two-headers"
    write(data / "a.csv", "x,y\n1,2\n")
    write(data / "b.csv", "x,z\n1,2\n")
    with pytest.raises(InputDataError, match=r"b\.csv: header \['x', 'z'\] differs"):
        run_component(CsvExampleGen(input_base=str(data)), workdir / "two-headers-out")


def test_bad_parameters_fail_early(workdir):
    with pytest.raises(PipelineDefinitionError, match="bad_rows"):
        CsvExampleGen(input_base="x", bad_rows="ignore")
    with pytest.raises(PipelineDefinitionError, match=r"either \{SPAN\} or date"):
        run_component(CsvExampleGen(input_base=str(PENGUIN_DATA), input_pattern="{SPAN}-{YYYY}{MM}{DD}"), workdir / "p1")
    with pytest.raises(PipelineDefinitionError, match="span_range must be"):
        run_component(CsvExampleGen(input_base=str(PENGUIN_DATA), span_range=[3, 1]), workdir / "p3")
    with pytest.raises(InputDataError, match="column 'nope'"):
        run_component(
            CsvExampleGen(input_base=str(PENGUIN_DATA), input_pattern="penguins.csv", split_key="nope"), workdir / "p2"
        )
