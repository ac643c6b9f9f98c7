"""Runs Beam pipelines on Dask (``--runner=DaskRunner``), correctly.

Beam 2.64 ships a ``DaskRunner`` that cannot run our data components: it has no translation for
``Impulse`` or its own ``_Read``, sends every output of a multi-output ParDo to every consumer,
drops what ``finish_bundle`` emits, computes only the last transform it visited, recomputes side
inputs in every task, and hands ``--runner`` to ``distributed.Client`` (docs/dask.md has the
details). This module keeps Beam's option names and its replacement of composite transforms, and
translates the resulting primitives into dask bags itself:

* one bag per PCollection, so tagged outputs and ``Partition`` branches stay apart;
* every DoFn runs once per bag partition, ``finish_bundle`` output included;
* combines are lifted (accumulate in each partition, merge per key), so ``CombineGlobally`` never
  gathers the data set in one task;
* side inputs are computed once, in the same graph, before the tasks that read them;
* every sink is computed, and only Dask's own options reach the client.

Only the global window is supported, which covers batch pipelines such as ours.
"""

from __future__ import annotations

import logging
import pickle
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import dask
import dask.bag as db
from apache_beam import pvalue
from apache_beam.io.iobase import SourceBase
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor, PTransformOverride
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, Receiver, _OutputHandler
from apache_beam.runners.runner import PipelineResult, PipelineRunner, PipelineState
from apache_beam.transforms import core
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.transforms.window import GlobalWindows, TimestampedValue
from apache_beam.utils.windowed_value import WindowedValue
from distributed.diagnostics.plugin import WorkerPlugin

from penstock.errors import PenstockError, PipelineDefinitionError
from penstock.integrations.dask.cluster import discard, quiet_distributed_logs, shared_local_cluster

_LOGGER = logging.getLogger(__name__)

# Create and Read give each element (a read task, a file, a source bundle) its own partition, up
# to this many per worker thread: our elements are units of work worth a task each, but every
# partition multiplies the tasks of each later step (and of shuffles).
_PARTITIONS_PER_THREAD = 4
_READ_BUNDLE_BYTES = 64 << 20


class DaskRunnerOptions(PipelineOptions):
    """Beam's DaskRunner option names, plus the size of the local cluster started when no
    scheduler is given."""

    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument("--dask_client_address", dest="dask_address", default=None,
                            help="Address of a running Dask scheduler (default: a LocalCluster shared by the process).")
        parser.add_argument("--dask_scheduler_file", dest="dask_scheduler_file", default=None,
                            help="Scheduler file of a running Dask scheduler.")
        parser.add_argument("--dask_connection_timeout", dest="dask_timeout", type=int, default=None,
                            help="Seconds to wait for the scheduler.")
        parser.add_argument("--dask_client_name", dest="dask_client_name", default=None,
                            help="Client name shown in the scheduler's logs.")
        parser.add_argument("--dask_local_workers", dest="dask_local_workers", type=int, default=None,
                            help="Worker processes of the shared LocalCluster used when no scheduler is "
                                 "given (default: one per core).")
        parser.add_argument("--dask_npartitions", dest="dask_npartitions", type=int, default=None,
                            help="Partitions for each created or read PCollection (default: one "
                                 f"per element, up to {_PARTITIONS_PER_THREAD} per worker thread).")


# --- primitives that replace Beam's composites before translation --------------------------------


class _Source(beam.PTransform):
    def expand(self, pbegin: Any) -> Any:
        return pvalue.PCollection(pbegin.pipeline, is_bounded=True)

    def get_windowing(self, inputs: Any) -> Any:
        return beam.Windowing(GlobalWindows())


@dataclass
class _Create(_Source):
    values: tuple[Any, ...]


@dataclass
class _Read(_Source):
    source: SourceBase


class _Reshuffle(beam.PTransform):
    """Identity: dask partitions are already spread over workers."""

    def expand(self, pcoll: Any) -> Any:
        return pvalue.PCollection.from_(pcoll)


class _GroupByKey(beam.PTransform):
    def expand(self, pcoll: Any) -> Any:
        return pvalue.PCollection.from_(pcoll)


class _Flatten(beam.PTransform):
    def expand(self, pcolls: Any) -> Any:
        first = pcolls if isinstance(pcolls, pvalue.PCollection) else next(iter(pcolls), None)
        if first is None:
            raise PipelineDefinitionError("DaskRunner: Flatten of no PCollections")
        return pvalue.PCollection(first.pipeline, is_bounded=True)

    def get_windowing(self, inputs: Any) -> Any:
        return beam.Windowing(GlobalWindows())


class _LiftedCombinePerKey(beam.PTransform):
    def __init__(self, combine_fn: Any) -> None:
        super().__init__()
        self.combine_fn = combine_fn

    def expand(self, pcoll: Any) -> Any:
        return pvalue.PCollection.from_(pcoll)


def _override(match: Callable[[Any], bool], replace: Callable[[Any], beam.PTransform]) -> PTransformOverride:
    class _Override(PTransformOverride):
        def matches(self, applied_ptransform: AppliedPTransform) -> bool:
            return match(applied_ptransform.transform)

        def get_replacement_transform_for_applied_ptransform(self, applied_ptransform: AppliedPTransform) -> Any:
            return replace(applied_ptransform.transform)

    return _Override()


def _combine_without_side_inputs(transform: Any) -> bool:
    if type(transform) is core._CombinePerKeyWithHotKeyFanout:
        return True
    return type(transform) is beam.CombinePerKey and not transform.side_inputs and not transform.args and not transform.kwargs


def _overrides() -> list[PTransformOverride]:
    return [
        _override(lambda t: type(t) is beam.Create, lambda t: _Create(tuple(t.values))),
        _override(lambda t: type(t) is beam.io.Read, lambda t: _Read(t.source)),
        _override(lambda t: type(t) is beam.Reshuffle, lambda t: _Reshuffle()),
        _override(lambda t: type(t) is beam.GroupByKey, lambda t: _GroupByKey()),
        _override(lambda t: type(t) is beam.Flatten, lambda t: _Flatten()),
        _override(
            _combine_without_side_inputs,
            lambda t: _LiftedCombinePerKey(t._combine_fn if type(t) is core._CombinePerKeyWithHotKeyFanout else t.fn),
        ),
    ]


# --- work done inside dask tasks -----------------------------------------------------------------


class _CollectingReceiver(Receiver):
    def __init__(self, tag: str | None, sink: list[tuple[str | None, Any]]) -> None:
        self._tag = tag
        self._sink = sink

    def receive(self, windowed_value: WindowedValue) -> None:
        value = windowed_value.value
        if isinstance(value, TimestampedValue):
            value = value.value
        self._sink.append((self._tag, value))


class _TaggedReceivers(dict):
    def __init__(self, sink: list[tuple[str | None, Any]]) -> None:
        super().__init__()
        self._sink = sink

    def __missing__(self, tag: str | None) -> _CollectingReceiver:
        receiver = self[tag] = _CollectingReceiver(tag, self._sink)
        return receiver


@dataclass
class _DoFnBundle:
    """Everything a task needs to run one ParDo over one partition (it is pickled into the graph)."""

    label: str
    fn: beam.DoFn
    args: list[Any]
    kwargs: dict[str, Any]
    side_input_views: list[tuple[type, Any]]  # (view class, view options) per side input
    options: dict[str, Any]  # the pipeline's options: FileSystems needs them on workers too

    def run(self, elements: Iterable[Any], *side_values: list[Any]) -> list[tuple[str | None, Any]]:
        _use_pipeline_options(self.options)
        side_inputs = [
            SideInputMap(view, options, [GlobalWindows.windowed_value(v) for v in values])
            for (view, options), values in zip(self.side_input_views, side_values)
        ]
        outputs: list[tuple[str | None, Any]] = []
        receivers = _TaggedReceivers(outputs)
        handler = _OutputHandler(
            window_fn=GlobalWindows(),
            main_receivers=receivers[None],
            tagged_receivers=receivers,
            per_element_output_counter=None,
            output_batch_converter=None,
            process_yields_batches=False,
            process_batch_yields_elements=False,
        )
        invoker = DoFnInvoker.create_invoker(
            DoFnSignature(self.fn),
            handler,
            context=DoFnContext(self.label, state=None),
            side_inputs=side_inputs or None,
            input_args=self.args,
            input_kwargs=self.kwargs,
            user_state_context=None,
            bundle_finalizer_param=beam.DoFn.BundleFinalizerParam(),
        )
        invoker.invoke_setup()
        invoker.invoke_start_bundle()
        for element in elements:
            invoker.invoke_process(GlobalWindows.windowed_value(element))
        invoker.invoke_finish_bundle()
        invoker.invoke_teardown()
        return outputs


def _values_tagged(pairs: Iterable[tuple[str | None, Any]], tag: str | None) -> list[Any]:
    return [value for t, value in pairs if t == tag]


_options_in_use: dict[str, Any] | None = None


def _use_pipeline_options(options: dict[str, Any]) -> None:
    """Give Beam's FileSystems this pipeline's options in a worker (as Beam's own SDK harness
    does): without them its S3 filesystem cannot even build a client."""
    global _options_in_use
    if options != _options_in_use:
        from apache_beam.io.filesystems import FileSystems

        FileSystems.set_options(PipelineOptions.from_dictionary(options))
        _options_in_use = options


def _read_bundles(bundles: Iterable[Any], options: dict[str, Any]) -> list[Any]:
    _use_pipeline_options(options)
    return [value for bundle in bundles for value in _read_bundle(bundle)]


def _read_bundle(bundle: Any) -> Iterator[Any]:
    source = bundle.source
    yield from source.read(source.get_range_tracker(bundle.start_position, bundle.stop_position))


def _stable_key_hash(element: tuple[Any, Any]) -> int:
    # Python's str hash differs between worker processes; dask shuffles by hash(), so group by a
    # hash of the key's bytes (Beam likewise groups keys by their encoding).
    return zlib.crc32(pickle.dumps(element[0], protocol=4))


def _regroup(group: tuple[int, list[tuple[Any, Any]]]) -> list[tuple[Any, list[Any]]]:
    by_key: dict[bytes, tuple[Any, list[Any]]] = {}
    for key, value in group[1]:
        by_key.setdefault(pickle.dumps(key, protocol=4), (key, []))[1].append(value)
    return list(by_key.values())


def _group_by_key(bag: db.Bag) -> db.Bag:
    """(key, value) pairs -> (key, [values]), shuffled between workers by a stable key hash."""
    return bag.groupby(_stable_key_hash, shuffle="tasks").map_partitions(
        lambda groups: [kv for group in groups for kv in _regroup(group)]
    )


def _accumulate(elements: Iterable[tuple[Any, Any]], combine_fn: Any) -> list[tuple[Any, Any]]:
    combine_fn.setup()
    accumulators: dict[bytes, tuple[Any, Any]] = {}
    for key, value in elements:
        encoded = pickle.dumps(key, protocol=4)
        entry = accumulators.get(encoded)
        accumulator = combine_fn.create_accumulator() if entry is None else entry[1]
        accumulators[encoded] = (key, combine_fn.add_input(accumulator, value))
    # No compact(): it would only shrink partials, and TFDV's finalises sketches in place.
    result = list(accumulators.values())
    combine_fn.teardown()
    return result


def _merge(group: tuple[Any, list[Any]], combine_fn: Any) -> tuple[Any, Any]:
    combine_fn.setup()
    key, accumulators = group
    # merge_accumulators may modify its first accumulator (TFDV's finalise their sketches, which
    # then refuse to be pickled), and a partial may still be sent to another worker afterwards:
    # so the first one is always fresh.
    output = combine_fn.extract_output(combine_fn.merge_accumulators([combine_fn.create_accumulator(), *accumulators]))
    combine_fn.teardown()
    return key, output


def _drain(elements: Iterable[Any]) -> list[Any]:
    for _ in elements:
        pass
    return []


# --- the translation -----------------------------------------------------------------------------


def _gather(partitions: list[list[Any]]) -> list[Any]:
    return [value for partition in partitions for value in partition]


class _BagBuilder(PipelineVisitor):
    """Builds one dask bag per PCollection, visiting Beam's primitives in topological order."""

    def __init__(self, npartitions: int | None, worker_threads: int, options: dict[str, Any]) -> None:
        self.npartitions = npartitions
        self.options = options
        self.max_partitions = _PARTITIONS_PER_THREAD * max(1, worker_threads)
        self.bags: dict[pvalue.PCollection, db.Bag] = {}
        self.consumed: set[pvalue.PCollection] = set()
        # Per transform: the bag computing it, and its outputs (a transform none of whose outputs
        # is read is a sink: a write, or a DoFn run for its side effects).
        self.steps: list[tuple[db.Bag, list[pvalue.PCollection]]] = []

    def visit_transform(self, node: AppliedPTransform) -> None:
        transform = node.transform
        inputs = [p for p in node.main_inputs.values() if isinstance(p, pvalue.PCollection)]
        self.consumed.update(inputs)
        input_bags = [self.bags[p] for p in inputs]
        outputs = {tag: p for tag, p in node.outputs.items() if isinstance(p, pvalue.PCollection)}
        for pcoll in [*inputs, *outputs.values()]:
            if not isinstance(pcoll.windowing.windowfn, GlobalWindows):
                raise PipelineDefinitionError(
                    f"DaskRunner runs batch pipelines in the global window only; {node.full_label!r} uses "
                    f"{type(pcoll.windowing.windowfn).__name__}"
                )
        if isinstance(transform, beam.ParDo) and not isinstance(transform, core.WindowInto):
            bag = self._par_do(node, transform, input_bags[0], outputs)
        else:
            bag = self._primitive(node, transform, input_bags)
            for pcoll in outputs.values():
                self.bags[pcoll] = bag
        self.steps.append((bag, list(outputs.values())))

    def _primitive(self, node: AppliedPTransform, transform: Any, inputs: list[db.Bag]) -> db.Bag:
        if isinstance(transform, core.Impulse):
            return db.from_sequence([b""], npartitions=1)
        if isinstance(transform, _Create):
            return self._from_sequence(list(transform.values))
        if isinstance(transform, _Read):
            bundles = list(transform.source.split(desired_bundle_size=_READ_BUNDLE_BYTES))
            return self._from_sequence(bundles).map_partitions(_read_bundles, self.options)
        if isinstance(transform, (_Reshuffle, core.WindowInto)):
            return inputs[0]
        if isinstance(transform, _Flatten):
            return db.concat(inputs) if inputs else db.from_sequence([], npartitions=1)
        if isinstance(transform, _GroupByKey):
            return _group_by_key(inputs[0])
        if isinstance(transform, _LiftedCombinePerKey):
            return _group_by_key(inputs[0].map_partitions(_accumulate, transform.combine_fn)).map(
                _merge, transform.combine_fn
            )
        raise PipelineDefinitionError(
            f"DaskRunner cannot run {node.full_label!r} ({type(transform).__name__}): penstock translates "
            "Impulse, Create, Read, ParDo, GroupByKey, CombinePerKey, Flatten and Reshuffle"
        )

    def _from_sequence(self, items: list[Any]) -> db.Bag:
        partitions = self.npartitions or min(max(len(items), 1), self.max_partitions)
        return db.from_sequence(items, npartitions=partitions)

    def _par_do(self, node: AppliedPTransform, transform: beam.ParDo, input_bag: db.Bag, outputs: dict) -> db.Bag:
        # transform.args/kwargs hold placeholders where side inputs go, as the DirectRunner uses them.
        # A side input is one task gathering its PCollection, in the same graph as everything else:
        # computed once, after its producers, and shipped to the tasks that read it.
        views, values = [], []
        for side_input in node.side_inputs:
            pcoll = side_input.pvalue
            self.consumed.add(pcoll)
            views.append((type(side_input), side_input._view_options()))
            values.append(dask.delayed(_gather, pure=True)(self.bags[pcoll].to_delayed(optimize_graph=False)))
        bundle = _DoFnBundle(node.full_label, transform.fn, list(transform.args), dict(transform.kwargs), views,
                             self.options)
        tagged = input_bag.map_partitions(bundle.run, *values)
        for tag, pcoll in outputs.items():
            # Beam keys the main output None (or "None"); a tagged output by its tag.
            self.bags[pcoll] = tagged.map_partitions(_values_tagged, None if tag in (None, "None") else tag)
        return tagged

    def sinks(self) -> list[db.Bag]:
        """The steps whose outputs nothing reads: computing them runs the whole pipeline."""
        return [bag for bag, outputs in self.steps if not any(pcoll in self.consumed for pcoll in outputs)]


class DaskWorkersLostError(PenstockError):
    """The cluster's workers keep dying, so the run cannot finish."""


# A worker that dies while loading a task (code it cannot import, a value it cannot unpickle)
# takes the task's inputs with it, and dask waits for workers that are not coming back (or for
# restarted ones that die the same way). On a cluster penstock started nothing scales it, so
# workers missing this long, or dying this often, mean the run cannot finish.
_MISSING_WORKERS_GRACE_S = 15.0
_WORKER_DEATHS_PER_WORKER = 3


def _wait(client: Any, futures: list[Any], watch_workers: bool) -> None:
    """Waits for every sink, re-raising a worker's exception; on a cluster penstock started,
    gives up when its workers die (see above) instead of waiting forever."""
    initial = set(client.scheduler_info()["workers"])
    seen = set(initial)
    short_since: float | None = None
    pending = futures
    while pending:
        for future in pending:
            if future.status != "pending":
                future.result()  # re-raises a worker's exception here
        pending = [future for future in pending if future.status == "pending"]
        if not pending:
            return
        time.sleep(0.25)
        if not watch_workers:
            continue
        current = set(client.scheduler_info()["workers"])
        seen |= current
        lost = len(seen - current)
        short_since = (short_since or time.monotonic()) if len(current) < len(initial) else None
        missing_too_long = short_since is not None and time.monotonic() - short_since > _MISSING_WORKERS_GRACE_S
        if missing_too_long or lost >= _WORKER_DEATHS_PER_WORKER * max(1, len(initial)):
            client.cancel(pending)
            raise DaskWorkersLostError(
                f"{lost} of the run's Dask workers died (their errors are logged above): a worker dies when "
                "it cannot load a task or a result, usually code it cannot import or a value it cannot unpickle"
            )


class _DoneResult(PipelineResult):
    def __init__(self) -> None:
        super().__init__(PipelineState.DONE)

    def wait_until_finish(self, duration: int | None = None) -> str:
        return self._state

    def metrics(self) -> Any:
        raise NotImplementedError("penstock's DaskRunner collects no Beam metrics")


class _StorageSetup(WorkerPlugin):
    """A dask WorkerPlugin: import ``penstock.storage.worker`` in each worker (Beam's workers get
    it from ``--beam_plugins``)."""

    def setup(self, worker: Any) -> None:
        import importlib

        importlib.import_module("penstock.storage.worker")


class DaskRunner(PipelineRunner):
    """A Beam runner executing batch pipelines on a Dask cluster (a LocalCluster by default)."""

    def run_pipeline(self, pipeline: beam.Pipeline, options: PipelineOptions) -> PipelineResult:
        from distributed import Client

        dask_options = options.view_as(DaskRunnerOptions)
        client_options: dict[str, Any] = {"name": dask_options.dask_client_name, "set_as_default": False}
        if dask_options.dask_timeout is not None:
            client_options["timeout"] = dask_options.dask_timeout
        with quiet_distributed_logs():
            cluster = None
            if dask_options.dask_address or dask_options.dask_scheduler_file:
                client = Client(
                    address=dask_options.dask_address, scheduler_file=dask_options.dask_scheduler_file, **client_options
                )
                # A cluster started elsewhere: its workers, present and future, set up their
                # object stores as penstock's own workers do (penstock.storage.worker).
                client.register_plugin(_StorageSetup(), name="penstock-storage")
            else:
                cluster = shared_local_cluster(dask_options.dask_local_workers)
                client = Client(cluster, **client_options)
            try:
                pipeline.replace_all(_overrides())
                builder = _BagBuilder(dask_options.dask_npartitions, sum(client.nthreads().values()),
                                      options.get_all_options(drop_default=True))
                pipeline.visit(builder)
                sinks = [bag.map_partitions(_drain) for bag in builder.sinks()]
                _wait(client, client.compute(sinks), watch_workers=cluster is not None)
            except DaskWorkersLostError:
                if cluster is not None:
                    discard(cluster)
                raise
            finally:
                client.close()
        return _DoneResult()
