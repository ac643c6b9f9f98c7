"""Request batching: concurrent requests to one signature are stacked into one model call.

A model call costs nearly the same for 1 row as for 64, so under concurrency stacking requests
multiplies throughput. But stacking is only right for a model that treats each row on its own:
one whose output depends on the batch (``y = x - mean(x)``, batch normalization in training mode,
a top-k over the batch) would answer each client with other clients' data. So, as TF Serving,
batching is off unless ``--enable_batching``; and even then penstock stacks only the versions
whose SavedModel directory carries ``batching_params.pbtxt`` -- TF Serving's per-model batching
file, the model author's statement that batching is right for it (its values are used with
``--enable_per_model_batching_parameters``, the global ones otherwise). Other versions run each
request alone and say so in the log.

The scheduler is greedy: a batch thread takes whatever is queued the moment it is free (up to
``max_batch_size`` rows) and runs it, so a lone request waits for nothing;
``batch_timeout_micros`` > 0 additionally waits that long for a batch to fill, as TF Serving's
option does. Only calls to the same signature with the same inputs and outputs, whose inputs
agree beyond dimension 0, are stacked. If a stacked call fails (one request's data is bad), each
request is rerun alone so only the bad one fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from penstock.serving.errors import RequestError
from penstock.serving.inference import Call
from penstock.serving.servable import Outputs

log = logging.getLogger("penstock.serving")

# (signature, rows in the model call, seconds each stacked request waited in the queue)
BatchObserver = Callable[[str, int, list[float]], None]


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's BatchingParameters, with its defaults (SharedBatchScheduler's queue options)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    per_model: bool = False  # --enable_per_model_batching_parameters

    @classmethod
    def from_proto(cls, params: Any, per_model: bool = False) -> BatchingOptions:
        """From a BatchingParameters message (unset fields keep the defaults)."""
        defaults = cls()
        values = {name: getattr(params, name).value if params.HasField(name) else getattr(defaults, name)
                  for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
                               "num_batch_threads")}
        return cls(**values, per_model=per_model)


@dataclass
class _Task:
    call: Call
    future: asyncio.Future[Outputs]
    loop: asyncio.AbstractEventLoop
    queued_at: float


def _resolve(results: list[tuple[asyncio.Future[Outputs], Outputs | None, BaseException | None]]) -> None:
    for future, outputs, error in results:
        if future.cancelled():
            continue  # the client went away
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(outputs)  # type: ignore[arg-type]


def _deliver(batch: list[_Task], outcomes: list[tuple[Outputs | None, BaseException | None]]) -> None:
    """Hand results back to the waiting requests: one wake-up per event loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outputs], Outputs | None,
                                                        BaseException | None]]] = {}
    for task, (outputs, error) in zip(batch, outcomes):
        by_loop.setdefault(task.loop, []).append((task.future, outputs, error))
    for loop, results in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, results)
        except RuntimeError:
            pass  # that loop is closed: nobody is waiting any more


_STOP = object()


class _Queue:
    """Calls of one signature with one set of inputs and outputs, and the threads running them."""

    def __init__(self, name: str, options: BatchingOptions, on_batch: BatchObserver | None) -> None:
        self.name = name
        self.options = options
        self.on_batch = on_batch
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._loop, name=f"penstock-batch-{name}-{i}", daemon=True)
                        for i in range(options.num_batch_threads)]
        for thread in self.threads:
            thread.start()

    def submit(self, task: _Task) -> None:
        if self.queue.qsize() >= self.options.max_enqueued_batches * self.options.max_batch_size:
            task.future.set_exception(RequestError(
                "UNAVAILABLE", "The batch scheduling queue to which this task was submitted is full"))
            return
        self.queue.put(task)

    def close(self) -> None:
        for _ in self.threads:
            self.queue.put(_STOP)

    def _loop(self) -> None:
        carry: _Task | None = None
        limit = self.options.max_batch_size
        while True:
            first = carry if carry is not None else self.queue.get()
            carry = None
            if first is _STOP:
                return
            assert isinstance(first, _Task)
            batch = [first]
            rows = first.call.rows or 0
            stop = False
            if first.call.rows is not None and rows < limit:
                deadline = time.monotonic() + self.options.batch_timeout_micros / 1e6
                while rows < limit:
                    try:
                        remaining = deadline - time.monotonic()
                        item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get(block=False)
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    assert isinstance(item, _Task)
                    if item.call.rows is None or rows + item.call.rows > limit:
                        carry = item
                        break
                    batch.append(item)
                    rows += item.call.rows
            self._run(batch)
            if stop:
                if carry is not None:
                    self._run([carry])
                return

    def _observe(self, rows: int, batch: list[_Task]) -> None:
        if self.on_batch is not None:
            now = time.monotonic()
            self.on_batch(batch[0].call.sig.name, rows, [now - t.queued_at for t in batch])

    def _run(self, batch: list[_Task]) -> None:
        if len(batch) > 1 and _stackable(batch):
            try:
                first = batch[0].call
                total = sum(t.call.rows or 0 for t in batch)
                stacked = {k: np.concatenate([t.call.feeds[k] for t in batch]) for k in first.feeds}
                self._observe(total, batch)
                outputs = first.sig.run(stacked, first.fetch)
                if all(a.ndim >= 1 and a.shape[0] == total for a in outputs.values()):
                    outcomes: list[tuple[Outputs | None, BaseException | None]] = []
                    start = 0
                    for task in batch:
                        end = start + (task.call.rows or 0)
                        outcomes.append(({k: a[start:end] for k, a in outputs.items()}, None))
                        start = end
                    _deliver(batch, outcomes)
                    return
            except RequestError:
                pass  # some request's data is bad: rerun one by one so only it fails
            except Exception:  # same: isolate the failing request
                log.debug("stacked call failed; rerunning requests one by one", exc_info=True)
        outcomes = []
        for task in batch:
            self._observe(task.call.rows or 1, [task])
            try:
                outcomes.append((task.call.execute(), None))
            except Exception as e:  # handed to the waiting request
                outcomes.append((None, e))
        _deliver(batch, outcomes)


def _stackable(batch: list[_Task]) -> bool:
    first = batch[0].call.feeds
    for key, array in first.items():
        for task in batch[1:]:
            other = task.call.feeds[key]
            if other.shape[1:] != array.shape[1:] or other.dtype != array.dtype:
                return False
    return True


class BatchScheduler:
    """Per loaded version: one queue (and its batch threads) per (signature, inputs, outputs)."""

    def __init__(self, options: BatchingOptions, on_batch: BatchObserver | None = None) -> None:
        self.options = options
        self.on_batch = on_batch
        self._queues: dict[tuple[str, tuple[str, ...], tuple[str, ...]], _Queue] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, call: Call) -> asyncio.Future[Outputs]:
        """Queue a call; call from a running event loop, await the returned future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outputs] = loop.create_future()
        key = (call.sig.name, tuple(call.feeds), call.fetch)
        batch_queue = self._queues.get(key)
        if batch_queue is None:
            with self._lock:
                if self._closed:
                    raise RequestError("UNAVAILABLE", "the model version is unloading; retry")
                batch_queue = self._queues.get(key)
                if batch_queue is None:
                    batch_queue = self._queues[key] = _Queue(call.sig.name, self.options, self.on_batch)
        batch_queue.submit(_Task(call, future, loop, time.monotonic()))
        return future

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for batch_queue in self._queues.values():
                batch_queue.close()
