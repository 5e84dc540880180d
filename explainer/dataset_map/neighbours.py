"""Exact cosine nearest neighbours of every row in one layer's space.

Rows are scaled to unit length and searched by scikit-learn's brute-force Euclidean search, whose ranking on
unit vectors is the cosine ranking (|a - b|^2 = 2 - 2 cos(a, b)) and which runs chunked (bounded memory) on
BLAS: exact for any size, about N^2 d multiply-adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainer.dataset_map.projection import unit_rows

DEFAULT_K = 10


@dataclass(frozen=True)
class Neighbours:
    indices: np.ndarray  # [N, k] int64: the k nearest other rows, nearest first
    distances: np.ndarray  # [N, k] float32: cosine distances (1 - cosine similarity), ascending
    requested: int  # the k asked for; more than the rows allow gives fewer (notes says so)
    notes: tuple[str, ...] = ()

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])


def nearest_neighbours(vectors: np.ndarray, k: int = DEFAULT_K) -> Neighbours:
    """The `k` nearest other rows of every row of `vectors` [N, d] by cosine distance (exact)."""
    if k < 1:
        raise ValueError(f"neighbours must be at least 1, not {k}")
    n = len(vectors)
    usable = min(k, max(n - 1, 0))
    notes: tuple[str, ...] = ()
    if usable < k:
        notes = (
            f"the data set has {n} row{'s' if n != 1 else ''}, so each has {usable} neighbour"
            f"{'s' if usable != 1 else ''}, not the {k} asked for",
        )
    if usable == 0:
        return Neighbours(np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32), k, notes)
    from sklearn.neighbors import NearestNeighbors

    unit = unit_rows(vectors)
    search = NearestNeighbors(n_neighbors=usable + 1, algorithm="brute", metric="euclidean").fit(unit)
    distances, indices = search.kneighbors(unit)  # [N, k+1], the row itself among them (unless tied duplicates)
    own = indices == np.arange(n)[:, None]
    missing = ~own.any(axis=1)
    own[missing, -1] = True  # a row whose duplicates crowded it out: drop the farthest instead
    keep = ~own
    indices = indices[keep].reshape(n, usable)
    cosine = np.clip(distances[keep].reshape(n, usable) ** 2 / 2.0, 0.0, 2.0).astype(np.float32)
    return Neighbours(indices.astype(np.int64), cosine, k, notes)
