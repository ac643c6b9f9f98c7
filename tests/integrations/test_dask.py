"""penstock's DaskRunner: Beam semantics on a real dask.distributed LocalCluster, and the data
components giving the same results as on the default engine."""

from __future__ import annotations

import glob
import os
import pathlib
import subprocess
import sys
import time
import typing

import apache_beam as beam
import pytest
from apache_beam.transforms.window import GlobalWindows

from penstock.components.example_gen import CsvExampleGen, ParquetExampleGen
from penstock.components.statistics_gen.component import StatisticsGen
from penstock.dsl.channel import Channel
from penstock.dsl.standard_artifacts import Examples
from penstock.errors import InputDataError, PipelineDefinitionError
from tests.components._data_fixtures import (
    TAXI_DATA,
    as_dict,
    assert_same_statistics,
    canonical,
    read_examples,
    run_component,
    write,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster_args():
    """One two-worker cluster for the module (its workers import TensorFlow once)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield ["--runner=DaskRunner", f"--dask_client_address={cluster.scheduler_address}"]


class _Bundled(beam.DoFn):
    """Passes elements on, and emits the bundle's size from finish_bundle: output a runner must
    not drop."""

    def start_bundle(self):
        self.seen = 0

    def process(self, element):
        self.seen += 1
        yield element

    def finish_bundle(self):
        yield GlobalWindows.windowed_value(("bundle", self.seen))


class _LogEach(beam.DoFn):
    """Appends each element it processes to a file: shows how often a step really ran."""

    def __init__(self, path):
        self.path = str(path)

    def process(self, element):
        with open(self.path, "a") as f:
            f.write(f"{element}\n")
        yield element


def _split_by_parity(n):
    yield beam.pvalue.TaggedOutput("even" if n % 2 == 0 else "odd", n)
    if n % 10 == 0:
        yield ("tens", n)


def _run_semantics_pipeline(args, out_dir):
    from penstock.beam.pipeline import make_pipeline

    pipeline = make_pipeline(args)
    numbers = pipeline | "Numbers" >> beam.Create(list(range(100)))
    parts = numbers | "Parity" >> beam.FlatMap(_split_by_parity).with_outputs("even", "odd", main="tens")
    total = numbers | "Sum" >> beam.CombineGlobally(sum)
    empty_total = (pipeline | "Nothing" >> beam.Create([]) | "SumNothing" >> beam.CombineGlobally(sum))
    words = pipeline | "Words" >> beam.Create(["a", "bb", "a", "ccc", "bb", "a"])
    grouped = (words | "Pair" >> beam.Map(lambda w: (w, 1)) | "Group" >> beam.GroupByKey()
               | "Count" >> beam.MapTuple(lambda w, ones: f"{w}={sum(ones)}"))
    offset = parts["odd"] | "Offset" >> beam.Map(lambda n, s: n + s, beam.pvalue.AsSingleton(total))
    bundles = numbers | "Bundled" >> beam.ParDo(_Bundled()).with_output_types(typing.Any)
    logged = numbers | "Logged" >> beam.ParDo(_LogEach(out_dir.parent / f"{out_dir.name}.log"))
    sized = logged | "PlusCount" >> beam.Map(lambda n, all_: n + len(all_), beam.pvalue.AsList(logged))
    results = {
        "even": parts["even"], "odd": parts["odd"], "tens": parts.tens, "total": total, "empty": empty_total,
        "grouped": grouped, "offset": offset,
        "bundles": bundles | "OnlyBundles" >> beam.Filter(lambda x: isinstance(x, tuple) and x[0] == "bundle"),
        "flat": (parts["even"], parts["odd"]) | "Together" >> beam.Flatten(),
        "sized": sized, "logged_max": logged | "Max" >> beam.CombineGlobally(max),
    }
    for name, pcoll in results.items():
        _ = pcoll | f"Write[{name}]" >> beam.Map(repr) | f"Text[{name}]" >> beam.io.WriteToText(str(out_dir / name))
    pipeline.run().wait_until_finish()

    def read(name):
        return sorted(line for path in glob.glob(f"{out_dir / name}*") for line in open(path).read().splitlines())

    results = {name: read(name) for name in results}
    results["log"] = sorted(int(n) for n in (out_dir.parent / f"{out_dir.name}.log").read_text().split())
    return results


def test_beam_semantics_on_dask(tmp_path, cluster_args):
    """Tagged outputs stay apart, finish_bundle output is kept, combines (also of nothing) and
    side inputs are right, every sink is written, and a step read by a side input and by two
    other steps runs once per element: all as on the DirectRunner."""
    dask = _run_semantics_pipeline(cluster_args + ["--dask_npartitions=4"], tmp_path / "dask")
    direct = _run_semantics_pipeline(["--runner=DirectRunner"], tmp_path / "direct")
    assert dask["even"] == sorted(str(n) for n in range(0, 100, 2))
    assert dask["tens"] == sorted(repr(("tens", n)) for n in range(0, 100, 10))
    assert dask["total"] == ["4950"] and dask["empty"] == ["0"]
    assert dask["grouped"] == ["'a=3'", "'bb=2'", "'ccc=1'"]
    assert len(dask["flat"]) == 100
    bundle_sizes = [eval(line)[1] for line in dask["bundles"]]
    assert len(bundle_sizes) == 4 and sum(bundle_sizes) == 100  # one per partition, none dropped
    assert dask["log"] == list(range(100))  # each element processed once
    assert dask["sized"] == sorted(str(n + 100) for n in range(100)) and dask["logged_max"] == ["99"]
    for name in ("even", "odd", "tens", "total", "empty", "grouped", "offset", "flat", "sized", "logged_max", "log"):
        assert dask[name] == direct[name], name


def test_example_gen_and_statistics_gen_match_the_default_engine(tmp_path, cluster_args, monkeypatch):
    """Taxi read in ~256 KB tasks spread over two workers: the same examples in the same splits,
    the same row counts, and the same statistics as in process."""
    from penstock.components.example_gen import executor

    monkeypatch.setattr(executor, "_READ_TASK_BYTES", 256 << 10)
    make = lambda: CsvExampleGen(input_base=str(TAXI_DATA), input_pattern="taxi.csv")  # noqa: E731
    on_dask = run_component(make(), tmp_path / "dask", beam_pipeline_args=cluster_args)["examples"]
    local = run_component(make(), tmp_path / "local")["examples"]
    assert as_dict(on_dask, "row_counts") == as_dict(local, "row_counts") == {"train": 10025, "eval": 4977}
    assert len(glob.glob(os.path.join(on_dask.split_uri("train"), "*.gz"))) > 1  # written by several tasks
    for split in ("train", "eval"):
        assert canonical(read_examples(on_dask, split)) == canonical(read_examples(local, split))

    stats_dask = run_component(StatisticsGen(examples=Channel(Examples)), tmp_path / "stats-dask",
                               inputs={"examples": [on_dask]}, beam_pipeline_args=cluster_args)["statistics"]
    stats_local = run_component(StatisticsGen(examples=Channel(Examples)), tmp_path / "stats-local",
                                inputs={"examples": [local]})["statistics"]
    assert_same_statistics(stats_dask, stats_local)


def test_parquet_row_group_tasks_on_dask(tmp_path, cluster_args, monkeypatch):
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from penstock.components.example_gen import conversion, executor

    monkeypatch.setattr(executor, "_READ_TASK_BYTES", 64 << 10)

    (tmp_path / "in").mkdir()
    pq.write_table(pcsv.read_csv(TAXI_DATA / "taxi.csv"), tmp_path / "in" / "taxi.parquet", row_group_size=2000)
    assert len(conversion.plan_reads("parquet", [("", str(tmp_path / "in" / "taxi.parquet"))], 64 << 10)) > 2
    on_dask = run_component(ParquetExampleGen(input_base=str(tmp_path / "in")), tmp_path / "dask",
                            beam_pipeline_args=cluster_args)["examples"]
    local = run_component(ParquetExampleGen(input_base=str(tmp_path / "in")), tmp_path / "local")["examples"]
    assert as_dict(on_dask, "row_counts") == as_dict(local, "row_counts")
    for split in ("train", "eval"):
        assert canonical(read_examples(on_dask, split)) == canonical(read_examples(local, split))


def test_bad_input_in_a_worker_is_a_clear_error(tmp_path, cluster_args):
    write(tmp_path / "in" / "data.csv", "a,b\n1,2\n3,4,5\n")
    with pytest.raises(InputDataError, match=r"data\.csv.*line 3"):
        run_component(CsvExampleGen(input_base=str(tmp_path / "in")), tmp_path / "out", beam_pipeline_args=cluster_args)


def test_windowed_pipelines_are_refused(cluster_args):
    from apache_beam.transforms import window

    from penstock.beam.pipeline import make_pipeline

    pipeline = make_pipeline(cluster_args)
    _ = (pipeline | beam.Create([1, 2]) | beam.WindowInto(window.FixedWindows(60)) | beam.Map(print))
    with pytest.raises(PipelineDefinitionError, match="global window only.*FixedWindows"):
        pipeline.run()


def _worker_pids(cluster) -> set[int]:
    from distributed import Client

    with Client(cluster, set_as_default=False) as client:
        return set(client.run(os.getpid).values())


def test_without_an_address_one_local_cluster_serves_every_run_of_the_process(tmp_path):
    """The plain flag works (Beam's own runner passes --runner to dask's Client and crashes), and
    runs share one cluster: its start and the workers' imports are paid once per process."""
    from penstock.integrations.dask import cluster as _dask_cluster

    args = ["--runner=DaskRunner", "--dask_local_workers=1"]
    assert _run_semantics_pipeline(args, tmp_path / "first")["total"] == ["4950"]
    cluster = _dask_cluster._CLUSTERS[1]
    pids = _worker_pids(cluster)
    assert _run_semantics_pipeline(args, tmp_path / "second")["total"] == ["4950"]
    assert _dask_cluster._CLUSTERS[1] is cluster and _worker_pids(cluster) == pids
    _dask_cluster.close_shared_local_clusters()
    assert cluster.status.name == "closed" and not _dask_cluster._CLUSTERS
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_shared_cluster_is_closed_when_the_process_exits(tmp_path):
    """No worker outlives the process, and exiting does not hang on the cluster."""
    script = (
        "import os, sys\n"
        "from distributed import Client\n"
        "import apache_beam as beam\n"
        "from penstock.beam.pipeline import make_pipeline\n"
        "from penstock.integrations.dask import cluster as _dask_cluster\n"
        "pipeline = make_pipeline(['--runner=DaskRunner', '--dask_local_workers=1'])\n"
        "_ = pipeline | beam.Create([1, 2, 3]) | beam.Map(lambda x: x)\n"
        "pipeline.run()\n"
        "with Client(_dask_cluster._CLUSTERS[1], set_as_default=False) as client:\n"
        "    print(*client.run(os.getpid).values())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    pids = [int(word) for word in done.stdout.split()]
    assert pids
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


class _MergeIntoFirst(beam.CombineFn):
    """Merges into its first accumulator, as Beam allows (TFDV's combiners do, finalising
    sketches that can no longer be pickled)."""

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, value):
        accumulator.append(value)
        return accumulator

    def merge_accumulators(self, accumulators):
        first, *rest = accumulators
        for other in rest:
            first.extend(other)
        return first

    def extract_output(self, accumulator):
        return sorted(accumulator)


def test_merging_never_modifies_a_partial_result():
    """A partial accumulator may still have to be sent to another worker after a merge ran on
    this one: the merge must start from a fresh accumulator."""
    from penstock.integrations.dask.runner import _accumulate, _merge

    fn = _MergeIntoFirst()
    (key, first), = _accumulate([("k", 3), ("k", 1)], fn)
    (_, second), = _accumulate([("k", 2)], fn)
    assert _merge((key, [first, second]), fn) == ("k", [1, 2, 3])
    assert first == [3, 1] and second == [2]


def test_workers_that_keep_dying_end_the_run_with_a_clear_error(monkeypatch):
    """A DoFn from a module only this process has: each worker dies loading the task and its
    nanny restarts it; instead of waiting forever, the run fails and says why."""
    import types

    from penstock.beam.pipeline import make_pipeline
    from penstock.integrations.dask import cluster as _dask_cluster
    from penstock.integrations.dask.runner import DaskWorkersLostError

    module = types.ModuleType("penstock_test_only_here")
    exec("def double(x):\n    return 2 * x\n", module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    pipeline = make_pipeline(["--runner=DaskRunner", "--dask_local_workers=1"])
    _ = pipeline | beam.Create([1, 2, 3]) | beam.Map(module.double)
    with pytest.raises(DaskWorkersLostError, match=r"1 of the run.s Dask workers died.*cannot import"):
        pipeline.run()
    assert 1 not in _dask_cluster._CLUSTERS  # discarded: the next run gets fresh workers
