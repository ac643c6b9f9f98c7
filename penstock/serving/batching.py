"""Request batching: concurrent requests to one signature are stacked into one model call.

A model call costs nearly the same for 1 row as for 64, so under concurrency stacking requests
multiplies throughput. The scheduler is greedy: a batch thread takes whatever is queued the
moment it is free (up to ``max_batch_size`` rows) and runs it, so a lone request waits for
nothing; ``batch_timeout_micros`` > 0 additionally waits that long for a batch to fill, as TF
Serving's option does. If a stacked call fails (one request's data is bad), each request is
rerun alone so only the bad one fails.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from penstock.serving.errors import RequestError
from penstock.serving.servable import Signature

log = logging.getLogger("penstock.serving")

Outputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class BatchingOptions:
    max_batch_size: int = 64
    batch_timeout_micros: int = 0
    # One thread: TensorFlow spreads a call over the cores itself; more batch threads only
    # contend for the GIL with the threads parsing requests.
    num_batch_threads: int = 1
    max_enqueued_batches: int = 1000


@dataclass
class _Task:
    inputs: dict[str, np.ndarray]
    rows: int | None  # None: cannot be stacked with others
    future: asyncio.Future[Outputs]
    loop: asyncio.AbstractEventLoop


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


class _SignatureQueue:
    def __init__(self, sig: Signature, options: BatchingOptions,
                 on_batch: Callable[[str, int], None] | None) -> None:
        self.sig = sig
        self.options = options
        self.on_batch = on_batch
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._loop, name=f"penstock-batch-{sig.name}-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, task: _Task) -> None:
        limit = self.options.max_enqueued_batches * self.options.max_batch_size
        if self.queue.qsize() >= limit:
            task.future.set_exception(RequestError("UNAVAILABLE", "the batch queue is full; retry later"))
            return
        self.queue.put(task)

    def close(self) -> None:
        for _ in self.threads:
            self.queue.put(_STOP)

    def _loop(self) -> None:
        carry: _Task | None = None
        while True:
            first = carry if carry is not None else self.queue.get()
            carry = None
            if first is _STOP:
                return
            assert isinstance(first, _Task)
            batch = [first]
            rows = first.rows or 0
            stop = False
            if first.rows is not None and first.rows < self.options.max_batch_size:
                deadline = time.monotonic() + self.options.batch_timeout_micros / 1e6
                while rows < self.options.max_batch_size:
                    try:
                        remaining = deadline - time.monotonic()
                        item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get(block=False)
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    assert isinstance(item, _Task)
                    if item.rows is None or rows + item.rows > self.options.max_batch_size:
                        carry = item
                        break
                    batch.append(item)
                    rows += item.rows
            self._run(batch)
            if stop:
                if carry is not None:
                    self._run([carry])
                return

    def _run(self, batch: list[_Task]) -> None:
        if len(batch) > 1 and self._stackable(batch):
            try:
                stacked = {k: np.concatenate([t.inputs[k] for t in batch]) for k in self.sig.input_names}
                outputs = self.sig.run(stacked)
                total = sum(t.rows or 0 for t in batch)
                if all(a.ndim >= 1 and a.shape[0] == total for a in outputs.values()):
                    if self.on_batch:
                        self.on_batch(self.sig.name, total)
                    outcomes: list[tuple[Outputs | None, BaseException | None]] = []
                    start = 0
                    for task in batch:
                        end = start + (task.rows or 0)
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
            if self.on_batch:
                self.on_batch(self.sig.name, task.rows or 1)
            try:
                outcomes.append((self.sig.run(task.inputs), None))
            except Exception as e:  # handed to the waiting request
                outcomes.append((None, e))
        _deliver(batch, outcomes)

    def _stackable(self, batch: list[_Task]) -> bool:
        for key in self.sig.input_names:
            first = batch[0].inputs[key]
            if any(t.inputs[key].shape[1:] != first.shape[1:] or t.inputs[key].dtype != first.dtype
                   for t in batch[1:]):
                return False
        return True


class BatchScheduler:
    """Per loaded version: one queue (and its batch threads) per signature, created on first use."""

    def __init__(self, options: BatchingOptions,
                 on_batch: Callable[[str, int], None] | None = None) -> None:
        self.options = options
        self.on_batch = on_batch
        self._queues: dict[str, _SignatureQueue] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, sig: Signature, inputs: dict[str, np.ndarray], rows: int | None) -> asyncio.Future[Outputs]:
        """Queue a request; call from a running event loop, await the returned future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outputs] = loop.create_future()
        signature_queue = self._queues.get(sig.name)
        if signature_queue is None:
            with self._lock:
                if self._closed:
                    raise RequestError("UNAVAILABLE", "the model version is unloading; retry")
                signature_queue = self._queues.get(sig.name)
                if signature_queue is None:
                    signature_queue = self._queues[sig.name] = _SignatureQueue(sig, self.options, self.on_batch)
        signature_queue.submit(_Task(inputs, rows if sig.batchable else None, future, loop))
        return future

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for signature_queue in self._queues.values():
                signature_queue.close()
