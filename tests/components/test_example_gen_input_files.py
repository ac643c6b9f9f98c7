"""ExampleGen reading its input from a bucket (``gs://``), on a real GCS emulator on loopback
(gcp-storage-emulator), with both engines; the results equal those of a local copy."""

from __future__ import annotations

import os
import shutil

import pytest

from penstock.components.example_gen import CsvExampleGen, ImportExampleGen, ParquetExampleGen
from penstock.errors import InputDataError
from tests.components._data_fixtures import PENGUIN_DATA, canonical, read_examples, run_component, write

BUCKET = "penstock-test"


@pytest.fixture(scope="module")
def bucket():
    """A GCS emulator with one bucket; STORAGE_EMULATOR_HOST points Google's clients (and
    penstock) at it, as on a developer machine."""
    from gcp_storage_emulator.server import create_server
    from pyarrow import fs

    server = create_server("127.0.0.1", 0, in_memory=True, default_bucket=BUCKET)
    server.start()
    host = f"127.0.0.1:{server._api._httpd.server_port}"
    before = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://{host}"
    try:
        yield fs.GcsFileSystem(anonymous=True, endpoint_override=host, scheme="http")
    finally:
        if before is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = before
        server.stop()


def upload(gcs, local_dir, prefix: str) -> str:
    """Copies ``local_dir``'s files to gs://BUCKET/prefix/ and returns that URI."""
    for root, _, names in os.walk(local_dir):
        for name in names:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, local_dir).replace(os.sep, "/")
            with open(path, "rb") as f, gcs.open_output_stream(f"{BUCKET}/{prefix}/{relative}") as out:
                out.write(f.read())
    return f"gs://{BUCKET}/{prefix}"


def _examples(artifact) -> dict[str, list]:
    return {split: canonical(read_examples(artifact, split)) for split in artifact.split_names}


@pytest.mark.parametrize("engine", [[], ["--runner=DirectRunner"]], ids=["in-process", "beam"])
def test_csv_spans_from_a_bucket_equal_a_local_read(bucket, tmp_path, engine):
    local = tmp_path / "local"
    lines = (PENGUIN_DATA / "penguins.csv").read_bytes().splitlines(keepends=True)
    write(local / "span-1" / "p.csv", b"".join(lines[:100]))
    write(local / "span-2" / "p.csv", b"".join(lines[:1] + lines[100:]))
    remote = upload(bucket, local, f"csv-{len(engine)}")

    def run(base, out):
        gen = CsvExampleGen(input_base=base, input_pattern="span-{SPAN}/*.csv")
        return run_component(gen, tmp_path / out, beam_pipeline_args=engine)["examples"]

    from_bucket, from_disk = run(remote, "remote"), run(str(local), "disk")
    assert from_bucket.get_property("span") == 2
    assert _examples(from_bucket) == _examples(from_disk)
    assert sum(len(v) for v in _examples(from_bucket).values()) == len(lines) - 100


def test_the_fingerprint_of_bucket_files_changes_when_one_is_rewritten(bucket, tmp_path):
    write(tmp_path / "in" / "d.csv", "x\n1\n")
    remote = upload(bucket, tmp_path / "in", "fingerprint")
    gen = CsvExampleGen(input_base=remote)
    before = gen.external_inputs()
    write(tmp_path / "in" / "d.csv", "x\n1\n2\n")
    upload(bucket, tmp_path / "in", "fingerprint")
    after = gen.external_inputs()
    assert before["files"].startswith("1 file(s), 4 bytes") and after["files"].startswith("1 file(s), 6 bytes")


def test_parquet_and_tfrecord_inputs_from_a_bucket(bucket, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = tmp_path / "parquet"
    local.mkdir()
    pq.write_table(pa.table({"n": [1, 2, 3], "s": ["a", "b", None]}), local / "d.parquet")
    remote = upload(bucket, local, "parquet")
    examples = run_component(ParquetExampleGen(input_base=remote, output_splits={"all": 1}), tmp_path / "pq")["examples"]
    assert canonical(read_examples(examples, "all")) == canonical([{"n": [1], "s": [b"a"]}, {"n": [2], "s": [b"b"]}, {"n": [3]}])

    # ExampleGen's own gzip TFRecords, imported back from the bucket. Renamed without ".gz":
    # the emulator alters objects whose name ends in .gz (gzip is detected by content anyway).
    (tmp_path / "records").mkdir()
    for i, path in enumerate(sorted(os.listdir(examples.split_uri("all")))):
        shutil.copy(os.path.join(examples.split_uri("all"), path), tmp_path / "records" / f"part-{i}.tfrecord")
    remote = upload(bucket, tmp_path / "records", "records")
    imported = run_component(ImportExampleGen(input_base=remote, output_splits={"all": 1}), tmp_path / "imp")["examples"]
    assert canonical(read_examples(imported, "all")) == canonical(read_examples(examples, "all"))


def test_bucket_input_errors_name_the_uri(bucket, tmp_path):
    with pytest.raises(InputDataError, match=rf"input folder 'gs://{BUCKET}/nothing' does not exist"):
        run_component(CsvExampleGen(input_base=f"gs://{BUCKET}/nothing"), tmp_path / "a")
    write(tmp_path / "bad" / "d.csv", "x,y\n1,2\n3\n")
    remote = upload(bucket, tmp_path / "bad", "bad")
    with pytest.raises(InputDataError, match=rf"gs://{BUCKET}/bad/d\.csv, line 3: expected 2 fields"):
        run_component(CsvExampleGen(input_base=remote), tmp_path / "b")
    with pytest.raises(InputDataError, match=r"input pattern '\*\.parquet' matches no file .*\(it holds: d\.csv\)"):
        run_component(ParquetExampleGen(input_base=remote), tmp_path / "c")
