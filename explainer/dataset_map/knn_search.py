"""Exact k-nearest-neighbour search of every row among all rows, by blocks, using each block product twice.

The score of rows a and b is symmetric, so the product of row block I with row block J ranks J's rows for I and,
read by columns, I's rows for J: walking only the blocks J >= I does half the multiply-adds of a plain
all-against-all search (scikit-learn's brute force and faiss's flat index compute both halves). Memory stays at
a few blocks, never N x N:

- every diagonal block first, which gives each row k candidates and so a threshold (its k-th best score);
- then each pair I < J: a row top-k of the product for I's rows, and for J's rows only the entries above their
  threshold (a few per column once the thresholds are set; a column with hundreds, as in a tight cluster, takes
  the dense top-k of the transposed block instead), merged into the running top-k.

Two geometries, both one matrix product: "cosine" on rows already scaled to unit length (score a.b) and
"euclidean" (score -|a - b|^2 / 2 = [a, -|a|^2/2, 1] . [b, 1, -|b|^2/2], the rows padded with two columns so that
one product gives it for both sides). The row itself is never among its own neighbours; a duplicate of it is
(at distance 0). Ties are broken by torch.topk, in no promised order.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

Geometry = Literal["cosine", "euclidean"]
BLOCK = 4096  # rows per block: a 4096 x 4096 float32 product is 64 MB, large enough for BLAS to run near peak
SPARSE_WIDTH = 256  # most candidates a column may have for the sparse merge; more: the dense one (bounded memory)


class _Scratch:
    """The block-sized buffers every block pair reuses. Fresh 64 MB tensors per pair paid page faults each time, and
    the 100k bench's peak memory reached 5-7 GB with them (3.6 GB with these buffers)."""

    def __init__(self, block: int) -> None:
        self.products = torch.empty(block * block)
        self.transposed = torch.empty(block * block)
        self.above = torch.empty(block * block, dtype=torch.bool)

    @staticmethod
    def view(flat: torch.Tensor, rows: int, columns: int) -> torch.Tensor:  # a contiguous [rows, columns]
        return flat[: rows * columns].view(rows, columns)


class _RunningTopK:
    """The k best (score, row) of every row so far; larger scores are nearer."""

    def __init__(self, n: int, k: int, scratch: _Scratch) -> None:
        self.k = k
        self.scratch = scratch
        self.scores = torch.full((n, k), -torch.inf)  # [N, k] descending
        self.rows = torch.full((n, k), -1, dtype=torch.int64)  # [N, k]

    def threshold(self, first: int, last: int) -> torch.Tensor:  # [last - first]: the k-th best so far
        return self.scores[first:last, -1]

    def merge(self, first: int, scores: torch.Tensor, rows: torch.Tensor) -> None:
        """Merge candidates `scores`/`rows` [count, m] (any m) for rows first..first+count."""
        count = scores.shape[0]
        pooled = torch.cat([self.scores[first : first + count], scores], dim=1)
        pooled_rows = torch.cat([self.rows[first : first + count], rows], dim=1)
        keep, chosen = pooled.topk(self.k, dim=1)
        self.scores[first : first + count] = keep
        self.rows[first : first + count] = pooled_rows.gather(1, chosen)

    def merge_block(self, first: int, products: torch.Tensor, column: int) -> None:
        """Merge a block of scores [rows, columns] whose columns are rows column.. of the data."""
        top, at = products.topk(min(self.k, products.shape[1]), dim=1)
        self.merge(first, top, at + column)

    def merge_columns(self, first: int, products: torch.Tensor, row: int) -> None:
        """Merge a block read by columns: products [rows, columns], columns are rows first.. (whose candidates
        are wanted), rows are rows row.. of the data. Only entries above a column's threshold can enter."""
        count, columns = products.shape
        above = self.scratch.view(self.scratch.above, count, columns)  # [rows, columns]
        torch.gt(products, self.threshold(first, first + columns)[None, :], out=above)
        counts = torch.count_nonzero(above, dim=0)  # [columns]
        width = int(counts.max())
        if width == 0:
            return
        if width > SPARSE_WIDTH:  # a column with many candidates (a tight cluster): the dense pass is bounded
            transposed = self.scratch.view(self.scratch.transposed, columns, count)
            transposed.copy_(products.T)
            self.merge_block(first, transposed, row)
            return
        hits = above.nonzero()  # [hits, 2]: (row, column)
        by_column = torch.argsort(hits[:, 1], stable=True)
        hit_rows, hit_columns = hits[by_column, 0], hits[by_column, 1]
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(len(hit_columns)) - starts[hit_columns]
        scores = torch.full((columns, width), -torch.inf)
        rows = torch.full((columns, width), -1, dtype=torch.int64)
        scores[hit_columns, slot] = products[hit_rows, hit_columns]
        rows[hit_columns, slot] = hit_rows + row
        self.merge(first, scores, rows)


def exact_top_k(
    vectors: np.ndarray, k: int, geometry: Geometry = "cosine", block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest other rows of every row of `vectors` [N, d] (k < N): (indices [N, k] int64, distances
    [N, k] float32), nearest first. Cosine distances are 1 - a.b (the rows must have unit length); euclidean
    distances are |a - b|."""
    n = len(vectors)
    if not 0 < k < n:
        raise ValueError(f"k must be between 1 and {n - 1} for {n} rows, not {k}")
    x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))  # [N, d]
    left = right = x
    if geometry == "euclidean":
        half = (x.double() ** 2).sum(dim=1, keepdim=True).float() / 2.0  # [N, 1]
        ones = torch.ones_like(half)
        left, right = torch.cat([x, -half, ones], dim=1), torch.cat([x, ones, -half], dim=1)  # [N, d+2]
    block = min(block, n)
    scratch = _Scratch(block)
    best = _RunningTopK(n, k, scratch)
    starts = range(0, n, block)

    def product(i: int, j: int) -> torch.Tensor:  # [Bi, Bj] scores of rows i.. against rows j.., in the buffer
        rows_i, rows_j = left[i : i + block], right[j : j + block]
        out = scratch.view(scratch.products, len(rows_i), len(rows_j))
        return torch.matmul(rows_i, rows_j.T, out=out)

    with torch.inference_mode():
        for i in starts:  # the diagonal blocks first: every row's threshold before the pairs
            products = product(i, i)
            products.fill_diagonal_(-torch.inf)  # the row itself is not its own neighbour
            best.merge_block(i, products, i)
        for i in starts:
            for j in range(i + block, n, block):
                products = product(i, j)
                best.merge_block(i, products, j)
                best.merge_columns(j, products, i)
    scores = best.scores.numpy().astype(np.float64)
    if geometry == "cosine":
        distances = np.clip(1.0 - scores, 0.0, 2.0)
    else:
        distances = np.sqrt(np.clip(-2.0 * scores, 0.0, None))
    return best.rows.numpy(), distances.astype(np.float32)
