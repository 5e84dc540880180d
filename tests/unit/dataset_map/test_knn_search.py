"""The blocked exact search against a float64 brute force: every block path (diagonal blocks, the pairs read by
rows and by column strips, a last block smaller than k), both geometries, duplicates, a tight cluster."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.dataset_map import knn_search
from explainer.dataset_map.knn_search import exact_top_k


def brute_force(x: np.ndarray, k: int, geometry: str) -> tuple[np.ndarray, np.ndarray]:
    x = x.astype(np.float64)
    if geometry == "cosine":
        distance = 1.0 - x @ x.T
    else:
        distance = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(distance, np.inf)
    order = np.argsort(distance, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(distance, order, axis=1)


@pytest.mark.parametrize("geometry", ["cosine", "euclidean"])
@pytest.mark.parametrize("block", [7, 50, 4096])
@pytest.mark.parametrize("strip", [1, 5, knn_search.STRIP])  # 5: a last strip narrower than the others
def test_every_block_path_gives_the_brute_force_answer(geometry, block, strip, monkeypatch):
    monkeypatch.setattr(knn_search, "STRIP", strip)
    x = np.random.default_rng(3).normal(size=(203, 12)).astype(np.float32)
    if geometry == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    indices, distances = exact_top_k(x, 9, geometry, block=block)  # block 7 < k: thresholds start unset
    expected, expected_distances = brute_force(x, 9, geometry)
    assert indices.dtype == np.int64 and distances.dtype == np.float32
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(distances, expected_distances, atol=1e-4)


def test_duplicates_are_neighbours_at_zero_and_the_row_itself_never():
    x = np.repeat(np.random.default_rng(4).normal(size=(10, 5)).astype(np.float32), 3, axis=0)  # each row thrice
    indices, distances = exact_top_k(x, 2, "euclidean", block=4)
    assert (indices != np.arange(30)[:, None]).all()
    assert (indices // 3 == np.arange(30)[:, None] // 3).all()  # the two copies of itself
    np.testing.assert_allclose(distances, 0.0, atol=1e-3)


def test_k_must_leave_a_row_out():
    with pytest.raises(ValueError, match="between 1 and 2"):
        exact_top_k(np.eye(3, dtype=np.float32), 3)


def test_a_tight_cluster_where_most_entries_beat_the_thresholds():
    # Rows nearly equal, each a little nearer the cluster's far end than the last: the column scans insert often.
    rng = np.random.default_rng(5)
    x = (np.ones((150, 8)) + np.linspace(0, 1e-2, 150)[:, None] * rng.normal(size=8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[::2] = -x[::2]  # and a second cluster, opposite
    indices, distances = exact_top_k(x, 12, "cosine", block=16)
    _, expected_distances = brute_force(x, 12, "cosine")
    np.testing.assert_allclose(distances, expected_distances, atol=1e-5)
    assert ((indices % 2) == (np.arange(150)[:, None] % 2)).all()  # every neighbour from the row's own cluster


def test_without_a_writable_cache_folder_the_kernels_compile_uncached(monkeypatch):
    real = knn_search.numba.njit
    asked: list[bool] = []

    def njit(**options):
        asked.append(options.get("cache", False))
        if options.get("cache"):  # what numba raises when no cache locator applies (a read-only install)
            raise RuntimeError("cannot cache function: no locator available")
        return real(**options)

    monkeypatch.setattr(knn_search.numba, "njit", njit)
    double = knn_search._compiled(lambda values: values * 2)
    assert asked == [True, False]
    np.testing.assert_array_equal(double(np.arange(3)), [0, 2, 4])


@pytest.mark.parametrize("geometry", ["cosine", "euclidean"])
@pytest.mark.parametrize(("distinct", "k"), [(40, 1), (40, 5), (40, 12), (3, 12), (1, 4)])
def test_repeated_rows_are_searched_once_and_listed_as_the_brute_force_lists_them(geometry, distinct, k, monkeypatch):
    # Rows drawn with repetition from `distinct` vectors (groups larger and smaller than k; 3 x ~5 copies < k + 1
    # distinct; all rows one vector), in shuffled order, plus two rows of their own.
    rng = np.random.default_rng(6)
    base = rng.normal(size=(distinct + 2, 7)).astype(np.float32)
    if geometry == "cosine":
        base /= np.linalg.norm(base, axis=1, keepdims=True)
    x = np.concatenate([base[rng.integers(0, distinct, 15 if distinct <= 3 else 300)], base[distinct:]])
    searched: list[int] = []
    search = knn_search._search
    monkeypatch.setattr(knn_search, "_search", lambda rows, *a: (searched.append(len(rows)), search(rows, *a))[1])
    indices, distances = exact_top_k(x, k, geometry, block=16)
    expected, expected_distances = brute_force(x, k, geometry)
    # copies in row order, as a stable sort of equal distances (random vectors: no two distinct ones tie)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(distances, expected_distances, atol=1e-5)
    assert searched == [len(np.unique(x, axis=0))]  # the distinct rows only


@pytest.mark.parametrize("odd", ["nan", "zero"])
def test_a_set_with_an_unscorable_or_zero_row_is_searched_row_by_row(odd, monkeypatch):
    # NaN scores no slot (its list keeps -1 where the old search left it), and a zero row's copies are at cosine
    # distance 1, not 0: such sets are searched as they are, copies and all
    x = np.array([[1, 0], [1, 0], [0, 1], [np.nan if odd == "nan" else 0.0] * 2], dtype=np.float32)
    searched: list[int] = []
    search = knn_search._search
    monkeypatch.setattr(knn_search, "_search", lambda rows, *a: (searched.append(len(rows)), search(rows, *a))[1])
    indices, distances = exact_top_k(x, 2)
    assert searched == [4] and (indices != np.arange(4)[:, None]).all()
    if odd == "zero":
        np.testing.assert_allclose(distances[3], [1.0, 1.0])  # 1 - 0: as far from every row as the brute force says
    else:
        assert (indices[3] == -1).all() and 3 not in indices[:3]


def test_rows_all_one_vector_need_no_search(monkeypatch):
    monkeypatch.setattr(knn_search, "_search", lambda *a: pytest.fail("searched"))
    indices, distances = exact_top_k(np.ones((5, 3), dtype=np.float32) / np.sqrt(3), 3)
    np.testing.assert_array_equal(indices, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2], [0, 1, 2]])
    assert (distances == 0).all()
