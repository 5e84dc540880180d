"""One in-process cache of computed results (Traces, attributions, graphs, ...), shared by every session and
bounded in bytes, so that a server's memory levels off however many sessions come and go.

Why not st.cache_data: it bounds entries, not bytes (eight 512-token BERT-base Traces are 1.4 GB), and hands each
caller an unpickled copy (more memory, more time). Results here are immutable (their numpy arrays are made
read-only on the way in), so every caller gets the same object. Two sessions asking for the same key compute it
once: the second waits for the first.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
DEFAULT_BUDGET_BYTES = 768 * 2**20
DEFAULT_TTL_SECONDS = 3600.0


def size_of(value: Any, _seen: set[int] | None = None) -> int:
    """Bytes a result holds: its numpy arrays' buffers, strings and containers, each object counted once."""
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + 112
    if isinstance(value, (str, bytes, bytearray)):
        return sys.getsizeof(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(size_of(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(size_of(k, seen) + size_of(v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sys.getsizeof(value) + sum(size_of(v, seen) for v in value)
    if hasattr(value, "memory_usage") and callable(value.memory_usage):  # a pandas DataFrame or Series
        try:
            return int(np.sum(value.memory_usage(deep=True)))
        except TypeError:
            pass
    return sys.getsizeof(value)


def freeze(value: Any, _seen: set[int] | None = None) -> None:
    """Make every numpy array reachable from `value` read-only: a shared result must not change under a reader."""
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            freeze(getattr(value, f.name), seen)
    elif isinstance(value, dict):
        for v in value.values():
            freeze(v, seen)
    elif isinstance(value, (list, tuple)):
        for v in value:
            freeze(v, seen)


_MISSING = object()


class _Flight:
    """One key being computed: its lock, the callers holding or waiting on it, and the value once computed (handed
    to them even when it is too big to keep)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.value: Any = _MISSING


class ResultCache:
    """LRU over (key -> result) with a byte budget and a time to live. Thread-safe; one compute per key."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
        self.budget_bytes = budget_bytes
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[Hashable, tuple[Any, int, float]] = OrderedDict()  # key -> (value, bytes, time)
        self._lock = threading.Lock()
        # a flight lives while anyone holds or waits on it: dropped sooner (before `put`, or after a failure), a
        # newcomer started a second computation of the key beside the waiters' own
        self._computing: dict[Hashable, _Flight] = {}
        self.bytes = 0
        self.last_compute = 0.0  # time.monotonic() of the last computation: the idle trimmer reads it

    def get(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            value, size, stored = entry
            if time.monotonic() - stored > self.ttl_seconds:
                self._drop(key)
                return False, None
            self._entries.move_to_end(key)
            return True, value

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        found, value = self.get(key)
        if found:
            return value
        with self._lock:
            flight = self._computing.setdefault(key, _Flight())
            flight.users += 1
        try:
            with flight.lock:  # a second caller of the same key waits here, then takes the first one's result
                if flight.value is not _MISSING:
                    return flight.value
                found, value = self.get(key)
                if found:
                    return value
                try:  # a failure is not kept: the next waiter computes (after this one, never beside it)
                    value = compute()
                finally:
                    self.last_compute = time.monotonic()
                self.put(key, value)
                flight.value = value
                return value
        finally:
            with self._lock:
                flight.users -= 1
                if flight.users == 0:
                    del self._computing[key]

    def put(self, key: Hashable, value: Any) -> None:
        freeze(value)
        size = size_of(value)
        with self._lock:
            self._expire()
            if key in self._entries:
                self._drop(key)
            if size > self.budget_bytes:
                return  # larger than the whole budget: handed back, not kept
            self._entries[key] = (value, size, time.monotonic())
            self.bytes += size
            while self.bytes > self.budget_bytes:
                self._drop(next(iter(self._entries)))

    def expire(self) -> int:
        """Drop the entries past their time to live (an entry nobody reads again held its bytes until the budget
        pushed it out); returns how many went."""
        with self._lock:
            return self._expire()

    def _expire(self) -> int:  # under self._lock
        deadline = time.monotonic() - self.ttl_seconds
        old = [key for key, (_, _, stored) in self._entries.items() if stored < deadline]
        for key in old:
            self._drop(key)
        return len(old)

    def _drop(self, key: Hashable) -> None:
        _, size, _ = self._entries.pop(key)
        self.bytes -= size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)
