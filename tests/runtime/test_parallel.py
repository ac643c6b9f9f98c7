"""ordered_map: results in input order, bounded work in flight, errors surface."""

from __future__ import annotations

import threading

import pytest

from penstock.runtime.parallel import ordered_map


def test_ordered_map_keeps_order_and_raises_the_first_error():
    import time

    def slow_first(i):
        time.sleep(0.05 if i == 0 else 0)
        return i * i

    assert list(ordered_map(slow_first, range(20), threads=2, window=3)) == [i * i for i in range(20)]

    def fails_at_five(i):
        if i == 5:
            raise ValueError("row 5")
        return i

    with pytest.raises(ValueError, match="row 5"):
        list(ordered_map(fails_at_five, range(20), threads=2, window=3))


def test_ordered_map_keeps_at_most_window_items_in_flight():
    lock = threading.Lock()
    in_flight, peak = 0, 0

    def work(i):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        threading.Event().wait(0.01)
        with lock:
            in_flight -= 1
        return i

    pulled = []

    def items():
        for i in range(30):
            pulled.append(i)
            yield i

    results = ordered_map(work, items(), threads=4, window=3)
    assert next(results) == 0
    assert len(pulled) <= 3  # the source is not drained ahead of the consumer
    assert list(results) == list(range(1, 30))
    assert peak <= 3
