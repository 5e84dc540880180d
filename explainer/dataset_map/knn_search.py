"""Exact k-nearest-neighbour search of every row among all rows, by blocks, using each block product twice.

The score of rows a and b is symmetric, so the product of row block I with row block J ranks J's rows for I and,
read by columns, I's rows for J: walking only the blocks J >= I does half the multiply-adds of a plain
all-against-all search (scikit-learn's brute force and faiss's flat index compute both halves). Memory stays at
one block product, never N x N:

- every diagonal block first, which gives each row k candidates and so a threshold (its k-th best score);
- then each pair I < J: the product is scanned once by rows (candidates for I's rows) and once by column strips
  (for J's rows). An entry enters a row's sorted top-k only when it beats that row's threshold, which after the
  diagonal blocks is rare, so the scan is one comparison per entry.

The products are BLAS (torch.matmul); the scans are two small numba kernels, parallel over rows and over column
strips (each row's top-k is written by one thread only) and free of the GIL. They replaced torch top-k and sparse
merges whose bookkeeping took about 30 s of the 100,000-row search's 73 s.

Two geometries, both one matrix product: "cosine" on rows already scaled to unit length (score a.b) and
"euclidean" (score -|a - b|^2 / 2 = [a, -|a|^2/2, 1] . [b, 1, -|b|^2/2], the rows padded with two columns so that
one product gives it for both sides). The row itself is never among its own neighbours; a duplicate of it is
(at distance 0). Of equal scores the one met first is kept.

Identical rows (the same bytes) are searched once: the distinct rows are searched among themselves, and each row's
list is then its own copies (distance 0, in row order) followed by the copies of its distinct neighbours, nearest
first. That is still the exact answer (every copy of a vector is as near as the vector), and the search costs
U^2 d / 2 for U distinct rows: a data set whose texts repeat (the same sentence in many rows, which usually gives
the same vector) pays for its distinct vectors only. Of equal distances, a row's own copies come first and each
distinct neighbour's copies stay together. Sets with a NaN or infinite row, or (cosine) an all-zero row, are
searched row by row as before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

import numba
import numpy as np
import torch

Geometry = Literal["cosine", "euclidean"]
BLOCK = 4096  # rows per block: a 4096 x 4096 float32 product is 64 MB, large enough for BLAS to run near peak
STRIP = 64  # columns per strip of the column scan: their thresholds and top-k lists stay in cache


def _compiled(function):
    """numba-compiled, parallel, without the GIL; cached on disk where numba finds a writable folder (beside this
    file, else the user's cache), compiled at each start otherwise (numba refuses `cache=True` with neither)."""
    try:
        return numba.njit(parallel=True, nogil=True, cache=True)(function)
    except RuntimeError:
        return numba.njit(parallel=True, nogil=True)(function)


@numba.njit(inline="always")
def _insert(scores, rows, at, score, row):  # scores/rows [N, k]: put (score, row) into row `at`'s sorted list
    place = scores.shape[1] - 1
    while place > 0 and scores[at, place - 1] < score:
        scores[at, place] = scores[at, place - 1]
        rows[at, place] = rows[at, place - 1]
        place -= 1
    scores[at, place] = score
    rows[at, place] = row


@_compiled
def _scan_rows(products, scores, rows, first, column):
    """Candidates for rows first.. from products [R, C] whose columns are rows column..; the diagonal of a
    diagonal block must already be -inf."""
    last = scores.shape[1] - 1
    for r in numba.prange(products.shape[0]):
        at = first + r
        threshold = scores[at, last]
        for c in range(products.shape[1]):
            score = products[r, c]
            if score > threshold:
                _insert(scores, rows, at, score, column + c)
                threshold = scores[at, last]


@_compiled
def _scan_columns(products, scores, rows, first, row, strip):
    """Candidates for rows first.. from products [R, C] read by columns (column c is row first + c; product row r
    is row row + r), a strip of columns per thread."""
    last = scores.shape[1] - 1
    columns = products.shape[1]
    for s in numba.prange((columns + strip - 1) // strip):
        start, stop = s * strip, min(columns, s * strip + strip)
        for r in range(products.shape[0]):
            for c in range(start, stop):
                score = products[r, c]
                if score > scores[first + c, last]:
                    _insert(scores, rows, first + c, score, row + r)


@dataclass(frozen=True)
class DistinctGraph:
    """Where repeated rows were searched once: the distinct vectors' own nearest-neighbour lists (UMAP lays them
    out once, and copies share their place)."""

    first: np.ndarray  # [U] int64: the first row holding each distinct vector, in row order
    group: np.ndarray  # [N] int64: each row's distinct vector (an index into first)
    near: np.ndarray  # [U, min(k, U - 1)] int64: each distinct vector's nearest other distinct vectors, nearest first
    far: np.ndarray  # [U, min(k, U - 1)] float32: their distances

    def as_arrays(self, prefix: str = "distinct_") -> dict[str, np.ndarray]:
        """Its arrays by name (stored beside the neighbours; from_arrays reads them back)."""
        return {prefix + name: values for name, values in asdict(self).items()}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "distinct_") -> DistinctGraph | None:
        """The graph stored by as_arrays, or None when `arrays` holds none (every row distinct)."""
        names = [field.name for field in fields(cls)]
        if not all(prefix + name in arrays for name in names):
            return None
        return cls(**{name: arrays[prefix + name] for name in names})


def exact_top_k(
    vectors: np.ndarray, k: int, geometry: Geometry = "cosine", block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest other rows of every row of `vectors` [N, d] (k < N): (indices [N, k] int64, distances
    [N, k] float32), nearest first. Cosine distances are 1 - a.b (the rows must have unit length); euclidean
    distances are |a - b|."""
    rows, distances, _ = exact_top_k_distinct(vectors, k, geometry, block)
    return rows, distances


def exact_top_k_distinct(
    vectors: np.ndarray, k: int, geometry: Geometry = "cosine", block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray, DistinctGraph | None]:
    """exact_top_k, and the distinct rows' own search when some rows repeat (None when every row is distinct)."""
    n = len(vectors)
    if not 0 < k < n:
        raise ValueError(f"k must be between 1 and {n - 1} for {n} rows, not {k}")
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    # Rows the search cannot score (NaN, inf) leave slots unfilled, and a zero row is at cosine distance 1 even
    # from its copies: with either, every row is searched as it is.
    plain = x.shape[1] == 0 or not np.isfinite(x).all() or (geometry == "cosine" and not x.any(axis=1).all())
    if not plain:
        first, group = distinct_rows(x)
    if plain or len(first) == n:
        return (*_search(x, k, geometry, block), None)
    distinct = len(first)
    if distinct > 1:  # each distinct row's nearest distinct others: with its copies, at least k rows
        near, far = _search(x[first], min(k, distinct - 1), geometry, block)
    else:
        near, far = np.zeros((1, 0), dtype=np.int64), np.zeros((1, 0), dtype=np.float32)
    members = np.argsort(group, kind="stable")  # [N] rows grouped by their distinct row, in row order
    counts = np.bincount(group, minlength=distinct)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    _expand(group, members, starts, counts, near, far, rows, distances)
    return rows, distances, DistinctGraph(first, group, near, far)


def distinct_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first [U]: the first row of each distinct vector, in row order; group [N]: each row's index into first).
    Rows are the same when their bytes are (so -0.0 and 0.0 differ: they are then searched apart, which is exact)."""
    keys = np.ascontiguousarray(x).view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)  # number the groups by their first row, not by their bytes
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order].astype(np.int64), rank[inverse.ravel()].astype(np.int64)


@_compiled
def _expand(group, members, starts, counts, near, far, rows, distances):
    """Each row's k nearest others from its distinct row's list: its own copies first (distance 0), then every copy
    of each distinct neighbour in turn (at that neighbour's distance), until k are listed."""
    k = rows.shape[1]
    for r in numba.prange(group.shape[0]):  # each row writes its own line only
        g = group[r]
        filled = 0
        for m in range(counts[g]):
            row = members[starts[g] + m]
            if row != r and filled < k:
                rows[r, filled] = row
                distances[r, filled] = 0.0
                filled += 1
        j = 0
        while filled < k and j < near.shape[1]:
            h = near[g, j]
            for m in range(counts[h]):
                if filled < k:
                    rows[r, filled] = members[starts[h] + m]
                    distances[r, filled] = far[g, j]
                    filled += 1
            j += 1


def _search(x: np.ndarray, k: int, geometry: Geometry, block: int) -> tuple[np.ndarray, np.ndarray]:
    """exact_top_k over rows of `x` [N, d] float32 (contiguous), every pair of rows scored."""
    n = len(x)
    x = torch.from_numpy(x)  # [N, d]
    left = right = x
    if geometry == "euclidean":
        half = (x.double() ** 2).sum(dim=1, keepdim=True).float() / 2.0  # [N, 1]
        ones = torch.ones_like(half)
        left, right = torch.cat([x, -half, ones], dim=1), torch.cat([x, ones, -half], dim=1)  # [N, d+2]
    block = min(block, n)
    buffer = torch.empty(block * block)  # every product reuses it: fresh 64 MB tensors per pair paid page faults
    scores = np.full((n, k), -np.inf, dtype=np.float32)  # [N, k] descending: the k best so far
    rows = np.full((n, k), -1, dtype=np.int64)  # [N, k]
    starts = range(0, n, block)

    def product(i: int, j: int) -> np.ndarray:  # [Bi, Bj] scores of rows i.. against rows j.., in the buffer
        rows_i, rows_j = left[i : i + block], right[j : j + block]
        out = buffer[: len(rows_i) * len(rows_j)].view(len(rows_i), len(rows_j))
        return torch.matmul(rows_i, rows_j.T, out=out).numpy()

    with torch.inference_mode():
        for i in starts:  # the diagonal blocks first: every row's threshold before the pairs
            products = product(i, i)
            np.fill_diagonal(products, -np.inf)  # the row itself is not its own neighbour
            _scan_rows(products, scores, rows, i, i)
        for i in starts:
            for j in range(i + block, n, block):
                products = product(i, j)
                _scan_rows(products, scores, rows, i, j)
                _scan_columns(products, scores, rows, j, i, STRIP)
    best = scores.astype(np.float64)
    if geometry == "cosine":
        distances = np.clip(1.0 - best, 0.0, 2.0)
    else:
        distances = np.sqrt(np.clip(-2.0 * best, 0.0, None))
    return rows, distances.astype(np.float32)
