"""The shared result cache: bounded in bytes (least recently used out first), one computation per key however
many sessions ask at once, results frozen so no reader can change them, entries expiring."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from explainer.serving.memo import ResultCache, size_of


@dataclass(frozen=True)
class Result:
    name: str
    values: np.ndarray  # [n]


def result(n: int, name: str = "r") -> Result:
    return Result(name, np.zeros(n, dtype=np.float32))


def test_size_counts_array_buffers_once():
    shared = np.zeros(1000, dtype=np.float64)
    assert 8000 <= size_of(Result("a", shared)) < 9000
    assert 8000 <= size_of([shared, shared]) < 9000  # the same array twice is held once
    assert size_of({"a": np.zeros(10, dtype=np.int8)}) < 500


def test_the_budget_is_in_bytes_and_the_oldest_use_goes_first():
    cache = ResultCache(budget_bytes=11_000)
    for key in "abc":
        cache.put(key, result(800))  # ~3.3 kB each: three fit
    assert len(cache) == 3
    assert cache.get("a")[0]  # "a" used: now "b" is the oldest
    cache.put("d", result(800))
    assert [cache.get(k)[0] for k in "abcd"] == [True, False, True, True]
    assert cache.bytes <= 11_000
    cache.put("huge", result(100_000))  # larger than the whole budget: not kept, nothing evicted for it
    assert not cache.get("huge")[0] and len(cache) == 3


def test_results_are_frozen_on_the_way_in():
    cache = ResultCache()
    value = cache.get_or_compute("k", lambda: result(4))
    with pytest.raises(ValueError):
        value.values[0] = 1.0
    assert cache.get_or_compute("k", lambda: result(4)) is value  # the same object, not a copy


def counted(calls: list[int], started: threading.Event, n: int):
    """A 0.2 s computation of result(n) that counts its calls (callers pile up on it meanwhile)."""
    def compute() -> Result:
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return result(n)

    return compute


def test_concurrent_callers_of_one_key_compute_once():
    cache = ResultCache()
    calls: list[int] = []
    compute = counted(calls, threading.Event(), 10)
    values: list[Result] = []
    threads = [threading.Thread(target=lambda: values.append(cache.get_or_compute("k", compute))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and len(values) == 8 and all(v is values[0] for v in values)


def test_a_failed_computation_is_not_kept_and_can_be_retried():
    cache = ResultCache()

    def fail() -> Result:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", fail)
    assert cache.get_or_compute("k", lambda: result(2)).values.shape == (2,)


def test_entries_expire():
    cache = ResultCache(ttl_seconds=0.05)
    cache.put("k", result(2))
    time.sleep(0.1)
    assert cache.get("k") == (False, None) and cache.bytes == 0


def test_expired_entries_give_their_bytes_back_though_nobody_reads_them():
    cache = ResultCache(ttl_seconds=0.05)
    cache.put("old", result(1000))
    time.sleep(0.1)
    assert cache.expire() == 1 and len(cache) == 0 and cache.bytes == 0
    cache.put("older", result(1000))
    time.sleep(0.1)
    cache.put("new", result(10))  # a put sweeps too
    assert len(cache) == 1 and cache.get("new")[0]


def _race(cache: ResultCache, compute, started: threading.Event, callers: int = 4) -> list:
    """`callers` threads asking for one key (the others started once the first one's computation has)."""
    values: list = []
    first = threading.Thread(target=lambda: values.append(cache.get_or_compute("k", compute)))
    first.start()
    assert started.wait(5)
    rest = [threading.Thread(target=lambda: values.append(cache.get_or_compute("k", compute)))
            for _ in range(callers - 1)]
    for thread in rest:
        thread.start()
    for thread in [first, *rest]:
        thread.join()
    return values


def test_a_value_too_big_to_keep_is_computed_once_for_the_callers_waiting_on_it():
    cache = ResultCache(budget_bytes=1_000)
    calls: list[int] = []
    started = threading.Event()
    values = _race(cache, counted(calls, started, 10_000), started)  # 40 kB: larger than the whole budget
    assert calls == [1] and len(values) == 4 and all(v is values[0] for v in values) and len(cache) == 0


def _users(cache: ResultCache, key: str, count: int) -> None:
    """Wait until `count` callers hold or wait on `key`'s computation."""
    deadline = time.monotonic() + 5
    while getattr(cache._computing.get(key), "users", 0) != count:
        assert time.monotonic() < deadline, f"never {count} callers of {key!r}"
        time.sleep(0.005)


def test_after_a_failure_the_waiters_compute_one_at_a_time_not_side_by_side():
    cache = ResultCache()
    running: list[int] = []
    overlaps: list[int] = []
    attempts = [threading.Event(), threading.Event()]  # set as each attempt starts
    release = [threading.Event(), threading.Event()]  # each attempt ends when its event is set

    def compute() -> Result:
        attempt = sum(e.is_set() for e in attempts)
        running.append(1)
        overlaps.append(len(running))
        attempts[attempt].set()
        assert release[attempt].wait(5)
        running.pop()
        if attempt == 0:
            raise MemoryError("a transient failure")
        return result(3)

    values: list = []

    def call() -> None:
        try:
            values.append(cache.get_or_compute("k", compute))
        except MemoryError:
            values.append("failed")

    first, waiter, late = (threading.Thread(target=call) for _ in range(3))
    first.start()
    assert attempts[0].wait(5)
    waiter.start()
    _users(cache, "k", 2)  # the waiter waits on the first one's computation
    release[0].set()  # the first fails; the waiter computes again
    assert attempts[1].wait(5)
    late.start()  # after the failure: it must wait on the waiter's computation, not start its own beside it
    _users(cache, "k", 2)
    release[1].set()
    for thread in (first, waiter, late):
        thread.join()
    assert max(overlaps) == 1 and all(e.is_set() for e in attempts) and len(overlaps) == 2
    assert values.count("failed") == 1 and sum(isinstance(v, Result) for v in values) == 2
