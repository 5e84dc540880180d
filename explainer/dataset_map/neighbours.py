"""Exact cosine nearest neighbours of every row in one layer's space.

Rows are scaled to unit length and searched by knn_search.exact_top_k: every pair's dot product, a block of rows
against a block at a time (bounded memory, BLAS), each product serving both blocks, so N^2 d / 2 multiply-adds
for N distinct rows (copies of a row are searched once): exact for any size (about half a minute for 100,000
distinct rows of 384 dimensions on two cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.dataset_map.knn_search import DistinctGraph, exact_top_k_distinct
from explainer.dataset_map.projection import unit_rows

DEFAULT_K = 10


@dataclass(frozen=True)
class Neighbours:
    indices: np.ndarray  # [N, k] int64: the k nearest other rows, nearest first
    distances: np.ndarray  # [N, k] float32: cosine distances (1 - cosine similarity), ascending
    requested: int  # the k asked for; more than the rows allow gives fewer (notes says so)
    notes: tuple[str, ...] = ()
    distinct: DistinctGraph | None = None  # the repeated rows' search, done once per distinct vector (None: none)

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def first(self, k: int) -> Neighbours:
        """The `k` nearest of a wider search (an exact list's first k are the k nearest)."""
        usable = _usable(len(self.indices), k)
        return Neighbours(self.indices[:, :usable], self.distances[:, :usable], k, _shortfall(len(self.indices), k),
                          self.distinct)


def nearest_neighbours(vectors: np.ndarray, k: int = DEFAULT_K) -> Neighbours:
    """The `k` nearest other rows of every row of `vectors` [N, d] by cosine distance (exact)."""
    if k < 1:
        raise ValueError(f"neighbours must be at least 1, not {k}")
    n = len(vectors)
    usable = _usable(n, k)
    notes = _shortfall(n, k)
    if usable == 0:
        return Neighbours(np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32), k, notes)
    indices, distances, distinct = exact_top_k_distinct(unit_rows(vectors), usable, "cosine")
    return Neighbours(indices, distances, k, notes, distinct)


def _usable(n: int, k: int) -> int:  # neighbours each of `n` rows can have when `k` are asked for
    return min(k, max(n - 1, 0))


def _shortfall(n: int, k: int) -> tuple[str, ...]:
    """The note for a data set of `n` rows too small to give each row `k` neighbours (none when it is not)."""
    usable = _usable(n, k)
    if usable == k:
        return ()
    return (
        f"The data set has {n} row{'s' if n != 1 else ''}, so each has {usable} neighbour"
        f"{'s' if usable != 1 else ''}, not the {k} asked for.",
    )
