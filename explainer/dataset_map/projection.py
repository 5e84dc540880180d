"""2-D maps of a layer's vectors: PCA, and UMAP after PCA to 50 dimensions, both deterministic for a seed.

PCA streams over the rows (float64 sums and the d x d scatter matrix, a chunk at a time), so 100,000 rows of a
768-wide layer never need a second copy; its components and signs follow scikit-learn's PCA (each component's
largest coefficient positive), so the two agree on the same matrix.

UMAP's neighbour graph is the exact cosine neighbours of the rows in the layer's whole space (knn_search, both
cores): the neighbours the map lists, so a caller that has searched them passes them in and UMAP adds no search.
umap-learn's own approximate descent runs on one core when seeded, and a separate exact search of the 50 components
took two thirds of the whole-space search's time on 100,000 rows (the top-k bookkeeping, not the products, dominates).
The layout starts from the first two principal components rather than umap-learn's spectral embedding: as
faithful on our data and a fraction of the cost (see `_umap`). umap-learn (and numba under it, slow to import and
to compile on first use) is imported only when a UMAP map is asked for.

Rows that repeat a vector byte for byte (the same text in many rows, usually) are laid out once, over the distinct
vectors' own graph (knn_search.DistinctGraph), and every copy gets its vector's place: umap-learn's own advice for
duplicates (its `unique=True`), which otherwise can land copies of one point in different regions, and a layout
whose cost follows the distinct rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

import numpy as np

from explainer.dataset_map.knn_search import DistinctGraph, exact_top_k_distinct

METHODS = ("pca", "umap")
Method = Literal["pca", "umap"]
UMAP_PCA_DIMENSIONS = 50  # UMAP reads this many principal components, not the whole layer
UMAP_NEIGHBOURS = 15
UMAP_GRAPH_WIDTH = UMAP_NEIGHBOURS - 1  # other rows per row in UMAP's graph (umap-learn counts the row itself)
UMAP_MIN_ROWS = 5  # below this UMAP has no neighbourhood to work with: the map falls back to PCA
CHUNK = 8192  # rows per step of the streaming passes


@dataclass(frozen=True)
class Pca:
    mean: np.ndarray  # [d] float64
    components: np.ndarray  # [k, d] float64, unit rows, by decreasing variance
    explained_variance: np.ndarray  # [k] float64
    total_variance: float = 0.0  # of all d directions: explained_variance / total_variance is each one's share

    def transform(self, vectors: np.ndarray) -> np.ndarray:  # [N, d] -> [N, k] float32
        out = np.empty((len(vectors), len(self.components)), dtype=np.float32)
        for first in range(0, len(vectors), CHUNK):
            block = np.asarray(vectors[first : first + CHUNK], dtype=np.float64) - self.mean
            out[first : first + CHUNK] = block @ self.components.T
        return out


def fit_pca(vectors: np.ndarray, components: int) -> Pca:
    """Principal components of `vectors` [N, d] (N >= 1): at most min(N, d) of them."""
    n, d = vectors.shape
    k = max(0, min(components, n, d))
    shift = np.asarray(vectors[: min(n, CHUNK)], dtype=np.float64).mean(axis=0)  # keeps the sums well-conditioned
    total = np.zeros(d)
    scatter = np.zeros((d, d))
    for first in range(0, n, CHUNK):
        block = np.asarray(vectors[first : first + CHUNK], dtype=np.float64) - shift
        total += block.sum(axis=0)
        scatter += block.T @ block
    centre = total / n
    covariance = (scatter - n * np.outer(centre, centre)) / max(n - 1, 1)
    values, vectors_ = np.linalg.eigh(covariance)  # ascending
    order = np.argsort(values)[::-1][:k]
    basis = vectors_[:, order].T  # [k, d]
    strongest = np.argmax(np.abs(basis), axis=1)
    basis *= np.sign(basis[np.arange(k), strongest])[:, None]  # scikit-learn's svd_flip(u_based_decision=False)
    return Pca(
        mean=shift + centre,
        components=basis,
        explained_variance=np.clip(values[order], 0.0, None),
        total_variance=float(np.clip(values, 0.0, None).sum()),
    )


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero): the cosine geometry the neighbours use."""
    # In float64: float16's squares overflow above 256 and its 1e-12 is 0 (a zero row became NaN).
    values = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    return (values / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class Projection:
    coordinates: np.ndarray  # [N, 2] float32
    method: str  # what was run: "pca" or "umap" (a UMAP asked of too few rows runs PCA)
    notes: tuple[str, ...] = ()
    variance_shares: tuple[float, ...] = ()  # PCA: the share of the vectors' variance along x and along y


def axis_titles(method: str, variance_shares: tuple[float, ...] = ()) -> tuple[str, str]:
    """What the map's x and y are: principal components with the share of the variance each shows (of the unit
    vectors build_map projects, not the raw hidden states), or UMAP's
    two dimensions (which have no unit: only neighbourhoods are meaningful)."""
    if method == "umap":
        return "UMAP 1", "UMAP 2"

    def title(i: int) -> str:  # a share not given (none known) leaves the bare component
        return f"PC {i + 1}" + (f" ({variance_shares[i]:.0%} of the variance)" if i < len(variance_shares) else "")

    return title(0), title(1)


def project(
    vectors: np.ndarray,
    method: Method = "pca",
    seed: int = 0,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
    distinct: DistinctGraph | None = None,
) -> Projection:
    """A 2-D map of `vectors` [N, d]. PCA is deterministic; UMAP is seeded (and then runs single-threaded, which
    is what makes it reproducible). `graph`: the rows' exact cosine neighbours when already searched (indices
    [N, w] int64 nearest first, cosine distances [N, w]; w >= min(UMAP_GRAPH_WIDTH, N - 1)); UMAP searches them
    itself otherwise, with the same result. `distinct`: that search's graph of the distinct vectors when rows
    repeat (UMAP then lays out each distinct vector once); searched here too when the graph is."""
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; use one of {', '.join(METHODS)}")
    n = len(vectors)
    if n == 0:
        return Projection(np.zeros((0, 2), dtype=np.float32), method)
    notes: list[str] = []
    if method == "umap" and n < UMAP_MIN_ROWS:
        mapped = "the one row was" if n == 1 else f"{n} were"
        notes.append(f"UMAP needs at least {UMAP_MIN_ROWS} rows; {mapped} mapped with PCA instead.")
        method = "pca"
    if method == "pca":
        pca = fit_pca(vectors, 2)
        total = pca.total_variance
        shares = tuple(float(v / total) if total > 0 else 0.0 for v in pca.explained_variance)
        shares += (0.0,) * (2 - len(shares))  # a rank-1 set's y is 0 (_two_columns)
        return Projection(_two_columns(pca.transform(vectors)), "pca", tuple(notes), shares)
    width = min(UMAP_GRAPH_WIDTH, n - 1)
    if graph is None or graph[0].shape[1] < width:
        *graph, distinct = exact_top_k_distinct(unit_rows(vectors), width, "cosine")
    if distinct is not None and len(distinct.first) < UMAP_MIN_ROWS:  # one vector repeated: a graph of zero
        # distances, which UMAP lays out as NaN (the readout at the embedding layer, one row copied)
        kinds = len(distinct.first)
        said = "1 distinct vector" if kinds == 1 else f"{kinds} distinct vectors"
        notes.append(f"UMAP needs at least {UMAP_MIN_ROWS} distinct vectors; these {n} rows hold {said}, mapped "
                     "with PCA instead.")
        return replace(project(vectors, "pca", seed), notes=tuple(notes))
    reduced = fit_pca(vectors, UMAP_PCA_DIMENSIONS).transform(vectors)
    once = min(UMAP_GRAPH_WIDTH, len(distinct.first) - 1) if distinct is not None else 0
    if distinct is not None and distinct.near.shape[1] >= once:  # (at least UMAP_MIN_ROWS of them: above)
        # each distinct vector laid out once, its copies at its place
        placed = _umap(reduced[distinct.first], distinct.near[:, :once], distinct.far[:, :once], seed)
        return Projection(placed[distinct.group], "umap", tuple(notes))
    return Projection(_umap(reduced, graph[0][:, :width], graph[1][:, :width], seed), "umap", tuple(notes))


def _two_columns(values: np.ndarray) -> np.ndarray:  # [N, <=2] -> [N, 2]: a rank-1 set gets y = 0
    out = np.zeros((len(values), 2), dtype=np.float32)
    out[:, : values.shape[1]] = values[:, :2]
    return out


@cache
def _umap_module():
    """umap-learn (lazy: numba's import takes seconds) with its numba kernels cached on disk. umap-learn asks numba
    to cache almost none of them, so each process compiled them again on its first UMAP: about 9 s of a 12-s first
    map of 300 rows on a 2-core machine, 0.5 s once cached. The cache lies beside umap-learn's source, else in the
    user's cache folder; a kernel stays uncached where numba finds neither writable. Compiled code is the same
    either way, so a seeded map does not change."""
    import numba
    import umap
    from umap import layouts, spectral, umap_, utils

    for module in (umap_, layouts, spectral, utils):
        for value in vars(module).values():
            if isinstance(value, numba.core.registry.CPUDispatcher):
                try:
                    value.enable_caching()
                except RuntimeError:  # no writable cache folder: compiled in each process, as before
                    pass
    return umap


def _umap(reduced: np.ndarray, others: np.ndarray, cosine: np.ndarray, seed: int) -> np.ndarray:
    """UMAP of the PCA components `reduced` [N, c] over the given graph: `others` [N, w] the nearest other rows,
    `cosine` [N, w] their cosine distances."""
    import warnings

    umap = _umap_module()

    n, neighbours = len(reduced), others.shape[1] + 1
    # umap-learn wants each row first in its own list, at distance 0, and distances in the metric it is told:
    # on unit rows the Euclidean distance is sqrt(2 * cosine distance), the same order.
    euclidean = np.sqrt(2.0 * np.clip(cosine, 0.0, None)).astype(np.float32)
    knn = (
        np.concatenate([np.arange(n)[:, None], others], axis=1),
        np.concatenate([np.zeros((n, 1), dtype=np.float32), euclidean], axis=1),
    )
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=neighbours,
        min_dist=0.1,
        random_state=seed,
        n_jobs=1,
        # PCA's first two components, scaled: the start Kobak & Linderman (2021) recommend for global structure,
        # and on 100,000 SST-2 rows as good (10-NN kept in 2-D: 0.436 vs 0.431) as the spectral start, which took
        # 11 of UMAP's 36 s there (ARPACK per connected component: duplicate sentences make many).
        init="pca" if reduced.shape[1] >= 2 else "random",
        precomputed_knn=knn,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spectral-init and tiny-graph warnings: the map is still drawn
        return reducer.fit_transform(reduced).astype(np.float32)
